from mevauction.cli import main

raise SystemExit(main())

"""Order intake: parsing and validating what searchers, users and builders send."""

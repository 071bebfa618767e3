/* An import from anywhere but "mev" (a host socket, say): refused at instantiation. */
int connect_to_host(int port);
int build(void) { return connect_to_host(8545); }

"""The real-time auction service: order intake over JSON-RPC, a slot clock, durable
storage, settlement by the Boost+ mechanism, the relay data API and a live page."""

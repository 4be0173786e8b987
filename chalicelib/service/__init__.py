"""Start-up and the unit of work: what a request or command opens first."""

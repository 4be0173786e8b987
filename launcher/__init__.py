"""The launcher `make run` starts: `chalice local` behind a request handler of ours."""

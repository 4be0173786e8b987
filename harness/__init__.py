"""Harnesses shared by the tests and the benchmarks: real servers, the Lambda runtime, Chromium."""

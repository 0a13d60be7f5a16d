"""What shows the product works from the outside: the demo, the benchmark, their helpers."""

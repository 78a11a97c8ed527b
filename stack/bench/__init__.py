"""Speed and memory benchmarks (`make bench`): the staged stack run, the ask load driver, snapshots."""

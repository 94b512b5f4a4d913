"""Peak memory of a command run in a fresh process, measured the same way by every benchmark."""

# Appended to the code a child process runs: prints its peak resident set in bytes. This is VmHWM (Linux), not
# ru_maxrss: ru_maxrss survives exec, so a child reports its parent's resident set at the fork if that was larger.
PRINT_PEAK_RSS = ('print(next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") '
                  'if line.startswith("VmHWM")))')

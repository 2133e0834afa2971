// trap-replace: poison, defend, evaluate and report, one cell (run) or attacks x defenses x seeds (matrix).
// dotnet run -c Release --project samples/TrapReplace.Cli -- run            (the default cell, about 10 minutes on 2 cores)
// dotnet run -c Release --project samples/TrapReplace.Cli -- matrix --shard 1/4
// dotnet run -c Release --project samples/TrapReplace.Cli -- report --results results
using TrapReplace.Cli;
using TrapReplace.Runtime;

// This process exists to train: keep glibc from handing libtorch's freed tensor memory back to the kernel after
// every step (opt-in for library users because it changes the whole process's allocator; docs/performance.md).
TorchRuntime.RetainNativeMemory = true;
return await CommandLine.InvokeAsync(args).ConfigureAwait(false);

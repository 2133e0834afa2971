// trap-replace: poison, defend, evaluate and report, one cell (run) or attacks x defenses x seeds (matrix).
// dotnet run -c Release --project samples/TrapReplace.Cli -- run            (the default cell, about 10 minutes on 2 cores)
// dotnet run -c Release --project samples/TrapReplace.Cli -- matrix --shard 1/4
// dotnet run -c Release --project samples/TrapReplace.Cli -- report --results results
using TrapReplace.Cli;

return await CommandLine.InvokeAsync(args).ConfigureAwait(false);

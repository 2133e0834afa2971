namespace TrapReplace.Experiments.Tests;

internal static class AllocatorOptIn
{
    // In-process tests train like the runner does, so they opt in to its allocator tuning too (the runner's
    // processes set it in Program.cs; library code never turns it on by itself).
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void RetainNativeMemory() => TrapReplace.Runtime.TorchRuntime.RetainNativeMemory = true;
}

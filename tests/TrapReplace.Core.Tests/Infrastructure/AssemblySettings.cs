// Draws from TorchSharp's process-wide generator are safe in parallel (TorchRuntime.Seeded; GlobalGeneratorTests),
// but its intra-op thread count is process-wide too: the bit-exact tests compare runs at a pinned count that a
// parallel test could change, and on the 2-core CI machine every training already uses both cores.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace TrapReplace.Core.Tests.Infrastructure
{
    internal static class AllocatorOptIn
    {
        // The test process trains hundreds of small networks: opt in to the allocator tuning the runner uses, or the
        // suite runs about twice as long (docs/performance.md). Library code never turns it on by itself.
        [System.Runtime.CompilerServices.ModuleInitializer]
        internal static void RetainNativeMemory() => TrapReplace.Runtime.TorchRuntime.RetainNativeMemory = true;
    }
}

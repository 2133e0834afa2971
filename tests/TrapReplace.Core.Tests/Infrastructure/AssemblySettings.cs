// TorchSharp's default random generator and thread count are process-wide; the trainers seed the
// generator per step and the model builders seed it before drawing weights. Test classes running
// in parallel would interleave those draws and break the bit-exact reproducibility tests.
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

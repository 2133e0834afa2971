// Two kinds of test class. Unattributed classes share one collection and run one after another: they train or
// evaluate networks, and TorchSharp's intra-op thread count is process-wide, so a bit-exact test comparing runs at a
// pinned count must not have another test change it under it (on the 2-core CI machine every training already uses
// both cores). Classes that never train, evaluate or set a thread count (parsers, downloads, splits) name their own
// collection with [Collection(nameof(TheClass))] and run beside it. Draws from torch's process-wide generator are
// safe in either kind (TorchRuntime.Seeded; GlobalGeneratorTests). CollectionRuleTests holds the rule: a named collection is
// one class of its own, never a name shared by torch tests (those would run beside the rest).
// Parallelization is nevertheless off: on two cores, anything running beside a two-thread torch op takes a core from it
// (the op waits for its slower thread). Measured on the 2-core Zen 1 EPYC, two pairs in alternating order, the whole
// project (`dotnet test tests/TrapReplace.Core.Tests -c Release --no-build`, with and without
// `-- xUnit.ParallelizeTestCollections=false`): 281 and 244 s one collection at a time, 328 and 261 s side by side.
// The rule above still holds, so turning it back on where there are cores to spare stays safe.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly, DisableTestParallelization = true)]

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

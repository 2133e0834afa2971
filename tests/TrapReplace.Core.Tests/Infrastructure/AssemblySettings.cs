// Two kinds of test class. Unattributed classes share one collection and run one after another: they train or
// evaluate networks, and TorchSharp's intra-op thread count is process-wide, so a bit-exact test comparing runs at a
// pinned count must not have another test change it under it (on the 2-core CI machine every training already uses
// both cores). Classes that never train, evaluate or set a thread count (parsers, downloads, splits) name their own
// collection with [Collection(nameof(TheClass))] and run beside it. Draws from torch's process-wide generator are
// safe in either kind (TorchRuntime.Seeded; GlobalGeneratorTests). CollectionRuleTests holds the rule: a named collection is
// one class of its own, never a name shared by torch tests (those would run beside the rest).
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly)]

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

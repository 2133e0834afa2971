using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Core.Tests.Replacement;

/// <summary>Stage 2's head must start from weights of its own, not from the trapped head's initial weights.</summary>
public sealed class FreshHeadTests
{
    private static readonly WideResNet16Backbone Backbone = new(10);

    private static float[] HeadWeights(TrapNetwork network) =>
        network.Head.Module.parameters().SelectMany(p => p.detach().cpu().data<float>().ToArray()).ToArray();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void The_replacement_seed_stream_gives_a_head_unlike_the_trapped_heads_initial_weights(int seed)
    {
        using var trapped = TrapTrainer.CreateNetwork(Backbone, new TrapTrainerOptions { ModelSeed = seed });
        using var fresh = HeadReplacer.CreateNetwork(Backbone, new HeadReplacerOptions { ModelSeed = HeadReplacerOptions.FreshHeadSeed(seed) });
        using var nextSeedTrapped = TrapTrainer.CreateNetwork(Backbone, new TrapTrainerOptions { ModelSeed = seed + 1 });

        var freshWeights = HeadWeights(fresh);
        freshWeights.Should().HaveCount(HeadWeights(trapped).Length);
        freshWeights.Should().NotEqual(HeadWeights(trapped), "the new head must not restart from the trapped head's initialisation");
        freshWeights.Should().NotEqual(HeadWeights(nextSeedTrapped), "nor from the next seed's trapped head (the old seed + 1 rule)");
    }

    [Fact]
    public void With_the_stage1_seed_the_new_head_would_repeat_the_trapped_heads_initial_weights()
    {
        // The failure the seed stream prevents: stem and head are built in the same order in both stages.
        using var trapped = TrapTrainer.CreateNetwork(Backbone, new TrapTrainerOptions { ModelSeed = 5 });
        using var sameSeed = HeadReplacer.CreateNetwork(Backbone, new HeadReplacerOptions { ModelSeed = 5 });

        HeadWeights(sameSeed).Should().Equal(HeadWeights(trapped));
    }

    [Fact]
    public void Replacement_seeds_are_non_negative_and_distinct_across_stage1_seeds()
    {
        var seeds = Enumerable.Range(0, 1000).Select(HeadReplacerOptions.FreshHeadSeed).ToArray();
        seeds.Should().OnlyContain(s => s >= 0).And.OnlyHaveUniqueItems();
        seeds.Should().NotIntersectWith(Enumerable.Range(0, 1001), "no replacement seed coincides with a small stage-1 seed");
    }
}

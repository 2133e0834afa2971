using System.Runtime;
using TrapReplace.Attacks.Adversarial;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;
using TrapReplace.Runtime;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Tests.Runtime;

// The no-GC region is process-wide: a test beside these could open one and make a step look guarded when it is not.
[CollectionDefinition(nameof(StepScopeTests), DisableParallelization = true)]
public sealed class StepScopeTestsCollection;

/// <summary>
/// The attacks' own per-batch loops (stamping triggers chunk by chunk, PGD's steps) run inside a no-GC region, so a
/// collection cannot free TorchSharp's temporary Scalars under libtorch there (<c>GcPause</c>).
/// </summary>
[Collection(nameof(StepScopeTests))]
public sealed class StepScopeTests
{
    [Fact]
    public void Poisoning_and_the_triggered_test_set_stamp_every_chunk_inside_a_no_gc_region()
    {
        var trigger = new RecordingTrigger();
        var attack = new RecordingAttack(trigger, new PoisoningPolicy(TargetClass: 0, PoisonRatio: 0.5, Seed: 2));
        using var images = TestData.RandomUint8Images(1100, 8, 8, seed: 3);
        using var labels = TestData.CyclicLabels(1100, 10);

        using (var poisoned = attack.Poison(images, labels, 10))
        {
            poisoned.PoisonedIndices.Should().HaveCountGreaterThan(512, "poisoning takes more than one chunk");
        }

        using (attack.CreateTriggeredTestSet(images, labels))
        {
        }

        // Both take two chunks of at most 512 images (the 990 non-target images for the test set).
        trigger.LatencyModes.Should().HaveCount(2 + 2).And.AllBeEquivalentTo(GCLatencyMode.NoGCRegion);
        GCSettings.LatencyMode.Should().NotBe(GCLatencyMode.NoGCRegion, "the region ends with the last chunk");
    }

    [Fact]
    public void Every_pgd_step_calls_the_model_inside_a_no_gc_region()
    {
        var modes = new List<GCLatencyMode>();
        using var weight = full(new long[] { 3 * 8 * 8, 4 }, 0.01f);
        Tensor Logits(Tensor x)
        {
            modes.Add(GCSettings.LatencyMode);
            return x.flatten(1).matmul(weight);
        }

        using var images = TestData.RandomUint8Images(10, 8, 8, seed: 4);
        using var labels = TestData.CyclicLabels(10, 4);
        var pgd = new ProjectedGradientDescent(new PgdOptions { Epsilon = 8.0 / 255.0, StepSize = 2.0 / 255.0, Steps = 3, Seed = 1, BatchSize = 4 });

        using var adversarial = pgd.Perturb(Logits, images, labels);

        modes.Should().HaveCount(3 * 3, "three batches of three steps").And.AllBeEquivalentTo(GCLatencyMode.NoGCRegion);
        GcPause.Held.Should().BeFalse();
    }

    private sealed class RecordingTrigger : ITrigger
    {
        public List<GCLatencyMode> LatencyModes { get; } = [];

        public string Name => "recording";

        public Tensor Apply(Tensor images)
        {
            LatencyModes.Add(GCSettings.LatencyMode);
            return images.clone();
        }
    }

    private sealed class RecordingAttack(ITrigger trigger, PoisoningPolicy policy)
        : BackdoorAttack("recording", trigger, policy, logger: null);
}

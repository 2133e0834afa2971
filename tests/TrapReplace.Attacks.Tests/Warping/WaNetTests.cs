using TorchSharp;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Warping;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Tests.Warping;

public sealed class WaNetTests
{
    [Fact]
    public void Strength_zero_is_the_identity()
    {
        using var images = TestData.RandomUint8Images(3, 32, 32, seed: 4);
        using var warped = new WarpingTrigger(strength: 0.0).Apply(images);
        using var difference = warped.sub(images).abs().max();
        difference.ToDouble().Should().BeLessThanOrEqualTo(1e-6);
    }

    [Fact]
    public void The_default_warp_moves_pixels_slightly_and_its_grid_stays_in_minus_1_1()
    {
        var trigger = new WarpingTrigger(seed: 1);
        using var grid = trigger.SamplingGrid(32, 32);
        grid.shape.Should().Equal(1, 32, 32, 2);
        using var gridMax = grid.abs().max();
        gridMax.ToDouble().Should().BeLessThanOrEqualTo(1.0);
        using var images = TestData.RandomUint8Images(2, 32, 32, seed: 5);
        using var warped = trigger.Apply(images);
        using var difference = warped.sub(images).abs().mean();
        difference.ToDouble().Should().BeGreaterThan(0.01);
        using var again = new WarpingTrigger(seed: 1).Apply(images);
        TestData.ToFloats(again).Should().Equal(TestData.ToFloats(warped));
    }

    [Fact]
    public void A_batch_gets_floor_p_b_relabelled_warped_samples_and_cross_ratio_times_as_many_noise_samples_keeping_labels()
    {
        var attack = new WaNetAttack(new PoisoningPolicy(TargetClass: 0, PoisonRatio: 0.1), triggerSeed: 2);
        using var images = TestData.RandomUint8Images(25, 32, 32, seed: 6);
        using var labels = full(new long[] { 25 }, 1L, ScalarType.Int64);
        using var generator = new Generator(9);
        var (poisonedImages, poisonedLabels) = attack.PoisonBatch(images, labels, generator);
        using var outImages = poisonedImages;
        using var outLabels = poisonedLabels;
        using var warped = attack.Trigger.Apply(images);

        var relabelled = TestData.ToLongs(outLabels).Select((l, i) => (l, i)).Where(x => x.l == 0).Select(x => x.i).ToArray();
        relabelled.Should().HaveCount(2, "⌊25 x 0.1⌋ = 2");
        var changed = Enumerable.Range(0, 25).Where(i => !Same(outImages, images, i)).ToArray();
        changed.Should().HaveCount(2 + 4, "cross_ratio 2 adds four noise-mode samples");
        changed.Should().Contain(relabelled);
        foreach (int i in relabelled)
        {
            Same(outImages, warped, i).Should().BeTrue("backdoor samples use the fixed warp");
        }

        foreach (int i in changed.Except(relabelled))
        {
            Same(outImages, warped, i).Should().BeFalse("noise-mode samples use a perturbed warp");
        }

        using var generator2 = new Generator(9);
        var (again, againLabels) = attack.PoisonBatch(images, labels, generator2);
        using (again)
        using (againLabels)
        {
            TestData.ToFloats(again).Should().Equal(TestData.ToFloats(outImages));
        }
    }

    [Fact]
    public void Static_poisoning_warps_the_chosen_indices_so_evaluation_works_as_for_other_attacks()
    {
        var attack = new WaNetAttack(new PoisoningPolicy(PoisonRatio: 0.25, Seed: 1));
        using var images = TestData.RandomUint8Images(8, 32, 32, seed: 7);
        using var labels = TestData.CyclicLabels(8, 2);
        using var poisoned = attack.Poison(images, labels, 2);
        using var warped = attack.Trigger.Apply(images);
        poisoned.PoisonedIndices.Should().HaveCount(2);
        foreach (int i in poisoned.PoisonedIndices)
        {
            Same(poisoned.Images, warped, i).Should().BeTrue();
        }
    }

    [Fact]
    public void WaNet_rejects_clean_label_policies()
    {
        var act = () => new WaNetAttack(new PoisoningPolicy(LabelMode: LabelMode.CleanLabel));
        act.Should().Throw<ArgumentException>().WithParameterName("LabelMode").WithMessage("*CleanLabel*");
    }

    private static bool Same(Tensor a, Tensor b, long i)
    {
        using var x = a[i];
        using var y = b[i];
        using var all = x.eq(y).all();
        return all.ToBoolean();
    }
}

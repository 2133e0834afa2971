using TorchSharp;
using TrapReplace.Attacks.Adversarial;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Tests.Adversarial;

public sealed class LabelConsistentAttackTests : IDisposable
{
    private readonly Tensor weight;

    public LabelConsistentAttackTests()
    {
        using var generator = new Generator(3);
        weight = randn(new long[] { 3 * 32 * 32, 3 }, generator: generator).mul_(0.05);
    }

    public void Dispose() => weight.Dispose();

    [Fact]
    public void Chosen_target_images_become_adversarial_with_the_four_corner_patch_and_labels_stay()
    {
        using var images = TestData.RandomUint8Images(12, 32, 32, seed: 2);
        using var labels = TestData.CyclicLabels(12, 3);
        var pgd = new PgdOptions { Epsilon = 8.0 / 255.0, StepSize = 2.0 / 255.0, Steps = 5 };
        var attack = new LabelConsistentAttack(
            new PoisoningPolicy(PoisonRatio: 0.5, Denominator: PoisonRatioDenominator.TargetClass), Logits, pgd);
        attack.Policy.LabelMode.Should().Be(LabelMode.CleanLabel);
        using var poisoned = attack.Poison(images, labels, 3);

        poisoned.PoisonedIndices.Should().HaveCount(2).And.OnlyContain(i => i % 3 == 0);
        TestData.ToLongs(poisoned.Labels).Should().Equal(TestData.ToLongs(labels));
        using var patched = BuiltInTriggers.FourCornerGrid().Apply(images);
        foreach (int i in poisoned.PoisonedIndices)
        {
            using var row = poisoned.Images[i];
            using var clean = images[i];
            TestData.At(row.unsqueeze(0), 0, 0, 31, 31).Should().Be(1f, "the corner patch is stamped after PGD");
            using var interior = row[.., 3..29, 3..29].sub(clean[.., 3..29, 3..29]).abs();
            using var largest = interior.max();
            largest.ToDouble().Should().BeGreaterThan(0.0).And.BeLessThanOrEqualTo((8.5 / 255.0) + 1e-6,
                "PGD moves the image within epsilon, plus the half-level rounding to the uint8 grid");
        }

        using var testSet = attack.CreateTriggeredTestSet(images, labels);
        using var expected = patched.index_select(0, tensor(testSet.SourceIndices.Select(i => (long)i).ToArray()));
        TestData.ToFloats(testSet.Images).Should().Equal(TestData.ToFloats(expected), "at test time only the patch is applied");
    }

    [Fact]
    public void The_catalog_requires_a_surrogate_model_for_label_consistent()
    {
        var act = () => AttackCatalog.Create("label-consistent", new PoisoningPolicy());
        act.Should().Throw<ArgumentException>().WithParameterName("SurrogateModel");
    }

    private Tensor Logits(Tensor x) => x.flatten(1).matmul(weight);
}

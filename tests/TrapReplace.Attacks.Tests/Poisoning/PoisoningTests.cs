using Microsoft.Extensions.Options;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks.Tests.Poisoning;

public sealed class PoisoningTests
{
    private const int Classes = 4;

    [Fact]
    public void Dirty_label_poisons_round_ratio_times_n_non_target_samples_and_relabels_them()
    {
        using var images = TestData.RandomUint8Images(50, 32, 32);
        using var labels = TestData.CyclicLabels(50, Classes);
        var attack = new BadNetsGridAttack(new PoisoningPolicy(TargetClass: 1, PoisonRatio: 0.25, Seed: 3));
        using var poisoned = attack.Poison(images, labels, Classes);

        poisoned.PoisonedIndices.Should().HaveCount(13, "round(0.25 x 50 = 12.5) = 13, half away from zero");
        poisoned.PoisonedIndices.Should().BeInAscendingOrder();
        var original = TestData.ToLongs(labels);
        var relabelled = TestData.ToLongs(poisoned.Labels);
        for (int i = 0; i < 50; i++)
        {
            poisoned.IsPoisoned[i].Should().Be(poisoned.PoisonedIndices.Contains(i));
            relabelled[i].Should().Be(poisoned.IsPoisoned[i] ? 1 : original[i]);
        }

        poisoned.PoisonedIndices.Should().OnlyContain(i => original[i] != 1, "dirty-label poisons non-target samples");
        poisoned.Policy.Should().Be(attack.Policy);
    }

    [Fact]
    public void Poisoned_samples_carry_the_trigger_and_the_others_are_untouched()
    {
        using var images = TestData.RandomUint8Images(20, 32, 32);
        using var labels = TestData.CyclicLabels(20, Classes);
        var attack = new BadNetsGridAttack(new PoisoningPolicy(PoisonRatio: 0.2, Seed: 1));
        using var poisoned = attack.Poison(images, labels, Classes);
        using var stamped = attack.Trigger.Apply(images);
        for (int i = 0; i < 20; i++)
        {
            using var row = poisoned.Images[i];
            using var expected = poisoned.IsPoisoned[i] ? stamped[i] : images[i];
            TestData.ToFloats(row).Should().Equal(TestData.ToFloats(expected), $"sample {i}");
        }
    }

    [Fact]
    public void The_same_seed_chooses_the_same_indices_and_another_seed_other_indices()
    {
        using var images = TestData.RandomUint8Images(40, 32, 32);
        using var labels = TestData.CyclicLabels(40, Classes);
        using var a = new BlendAttack(new PoisoningPolicy(PoisonRatio: 0.2, Seed: 11)).Poison(images, labels, Classes);
        using var b = new BlendAttack(new PoisoningPolicy(PoisonRatio: 0.2, Seed: 11)).Poison(images, labels, Classes);
        using var c = new BlendAttack(new PoisoningPolicy(PoisonRatio: 0.2, Seed: 12)).Poison(images, labels, Classes);
        b.PoisonedIndices.Should().Equal(a.PoisonedIndices);
        c.PoisonedIndices.Should().NotEqual(a.PoisonedIndices);
        TestData.ToFloats(b.Images).Should().Equal(TestData.ToFloats(a.Images));
    }

    [Fact]
    public void Clean_label_poisons_only_target_class_images_and_leaves_every_label_unchanged()
    {
        using var images = TestData.RandomUint8Images(40, 32, 32);
        using var labels = TestData.CyclicLabels(40, Classes);
        var attack = new SigAttack(new PoisoningPolicy(TargetClass: 2, PoisonRatio: 0.5, Denominator: PoisonRatioDenominator.TargetClass));
        attack.Policy.LabelMode.Should().Be(LabelMode.CleanLabel, "SIG is clean-label by definition");
        using var poisoned = attack.Poison(images, labels, Classes);

        var original = TestData.ToLongs(labels);
        poisoned.PoisonedIndices.Should().HaveCount(5, "half of the 10 target-class images");
        poisoned.PoisonedIndices.Should().OnlyContain(i => original[i] == 2);
        TestData.ToLongs(poisoned.Labels).Should().Equal(original);
        for (int i = 0; i < 40; i++)
        {
            if (!poisoned.IsPoisoned[i])
            {
                using var row = poisoned.Images[i];
                using var clean = images[i];
                TestData.ToFloats(row).Should().Equal(TestData.ToFloats(clean));
            }
        }
    }

    [Fact]
    public void A_clean_label_attack_with_too_few_target_class_images_fails_with_the_numbers()
    {
        using var images = TestData.RandomUint8Images(40, 32, 32);
        using var labels = TestData.CyclicLabels(40, Classes);
        var attack = new SigAttack(new PoisoningPolicy(PoisonRatio: 0.5));
        var act = () => attack.Poison(images, labels, Classes);
        act.Should().Throw<ArgumentException>().WithParameterName("PoisonRatio")
            .WithMessage("*needs 20 target-class images*class 0 has only 10*");
    }

    [Fact]
    public void The_triggered_test_set_holds_every_non_target_image_triggered_and_no_target_image()
    {
        using var images = TestData.RandomUint8Images(30, 32, 32);
        using var labels = TestData.CyclicLabels(30, Classes);
        var attack = new BadNetsAttack(new PoisoningPolicy(TargetClass: 3));
        using var set = attack.CreateTriggeredTestSet(images, labels);

        var original = TestData.ToLongs(labels);
        int nonTarget = original.Count(l => l != 3);
        set.Count.Should().Be(nonTarget);
        set.Images.shape.Should().Equal(nonTarget, 3, 32, 32);
        set.TargetClass.Should().Be(3);
        TestData.ToLongs(set.TrueLabels).Should().NotContain(3).And.Equal(set.SourceIndices.Select(i => original[i]));
        set.SourceIndices.Should().BeInAscendingOrder().And.OnlyContain(i => original[i] != 3);
        using var expected = attack.Trigger.Apply(images[set.SourceIndices[4]].unsqueeze(0));
        using var actual = set.Images[4].unsqueeze(0);
        TestData.ToFloats(actual).Should().Equal(TestData.ToFloats(expected));
    }

    [Fact]
    public void The_target_class_denominator_counts_from_the_target_class_size()
    {
        var policy = new PoisoningPolicy(PoisonRatio: 0.1, Denominator: PoisonRatioDenominator.TargetClass);
        policy.PoisonCount(trainingSetSize: 50_000, targetClassSize: 5_000).Should().Be(500);
        (policy with { Denominator = PoisonRatioDenominator.WholeTrainingSet }).PoisonCount(50_000, 5_000).Should().Be(5_000);
        policy.PoisonCount(10, 3).Should().Be(1, "at least one sample is poisoned");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    [InlineData(-0.2)]
    public void A_ratio_outside_0_1_is_rejected_naming_the_parameter_and_the_value(double ratio)
    {
        new PoisoningPolicy(PoisonRatio: ratio).Validate(10).Should()
            .Equal($"PoisonRatio = {ratio.ToString(System.Globalization.CultureInfo.InvariantCulture)} is outside (0, 1]");
    }

    [Theory]
    [InlineData(10)]
    [InlineData(-1)]
    public void A_target_class_out_of_range_is_rejected_naming_the_parameter_and_the_value(int target)
    {
        new PoisoningPolicy(TargetClass: target).Validate(10).Should().Equal($"TargetClass = {target} is outside [0, 9]");
    }

    [Fact]
    public void Several_invalid_settings_are_reported_together()
    {
        var act = () => new PoisoningPolicy(TargetClass: 12, PoisonRatio: 2).ThrowIfInvalid(10);
        var error = act.Should().Throw<OptionsValidationException>().Which;
        error.OptionsName.Should().Be(nameof(PoisoningPolicy), "the same error type and shape as TrapReplace.Core's options");
        error.Failures.Should().Equal("TargetClass = 12 is outside [0, 9]", "PoisonRatio = 2 is outside (0, 1]");
    }

    [Fact]
    public void Poisoning_checks_the_policy_against_the_number_of_classes()
    {
        using var images = TestData.RandomUint8Images(8, 32, 32);
        using var labels = TestData.CyclicLabels(8, 2);
        var act = () => new BadNetsAttack(new PoisoningPolicy(TargetClass: 5)).Poison(images, labels, 2);
        act.Should().Throw<OptionsValidationException>().Which.Failures.Should().Equal("TargetClass = 5 is outside [0, 1]");
    }

    [Fact]
    public void Poisoning_rejects_images_outside_0_1()
    {
        using var images = TestData.Constant(4, 32, 32, -0.25f);
        using var labels = TestData.CyclicLabels(4, 2);
        var act = () => new BadNetsAttack(new PoisoningPolicy()).Poison(images, labels, 2);
        act.Should().Throw<ArgumentException>().WithParameterName("images").WithMessage("*-0.25*");
    }

    [Fact]
    public void A_custom_trigger_replaces_the_generated_one()
    {
        var custom = BuiltInTriggers.FourCornerGrid();
        var attack = new BlendAttack(new PoisoningPolicy(), trigger: custom);
        attack.Trigger.Should().BeSameAs(custom);
        attack.Name.Should().Be("blend");
    }
}

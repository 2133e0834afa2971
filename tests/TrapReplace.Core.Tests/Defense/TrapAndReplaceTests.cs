using Microsoft.Extensions.Options;
using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Defense;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Training;
using TrapReplace.Replacement;
using TrapReplace.Runtime;

namespace TrapReplace.Core.Tests.Defense;

public sealed class TrapAndReplaceTests
{
    [Fact]
    public void The_fluent_defense_traps_then_replaces_and_reports_both_stages()
    {
        using var untrusted = Synthetic.ColourClasses(192, seed: 11);
        using var holdout = Synthetic.ColourClasses(64, seed: 12);
        using var test = Synthetic.ColourClasses(96, seed: 13);
        var epochs = new List<string>();

        var defense = TrapAndReplace.Configure()
            .WithBackbone(new WideResNet16Backbone(classCount: 4))
            .WithReconstruction(weight: 10, totalVariationWeight: 1)
            .Trap(o => { o.Epochs = 2; o.BatchSize = 32; o.LearningRate = 3e-3; })
            .Replace(o => { o.Epochs = 2; o.BatchSize = 16; o.LearningRate = 3e-3; o.ValidationFraction = 0.25; })
            .WithSeed(3)
            .WithThreads(2)
            .Build();
        defense.EpochCompleted += (_, e) => epochs.Add($"{e.Stage}{e.Record.Epoch}");
        using var result = defense.Fit(untrusted, holdout);

        epochs.Should().Equal("trap0", "trap1", "replace0", "replace1");
        result.Trapped.ReconstructionHead.Should().NotBeNull();
        result.Defended.ReconstructionHead.Should().BeNull();
        Evaluator.Evaluate(result.Defended, test).CleanAccuracy.Should().BeGreaterThan(0.4);
        defense.ReplaceOptions.ModelSeed.Should().Be(HeadReplacerOptions.FreshHeadSeed(3));
    }

    [Fact]
    public void Build_names_every_problem_and_the_builder_is_single_use()
    {
        var builder = TrapAndReplace.Configure().Trap(o => o.Epochs = 0).Replace(o => o.LabelSmoothing = 2);

        var act = () => builder.Build();
        act.Should().Throw<OptionsValidationException>().Which.Failures.Should().BeEquivalentTo(
            "A backbone is required: call WithBackbone(...).",
            "Trap.Epochs must be >= 1; got 0.",
            "Replace.LabelSmoothing must be in [0, 1); got 2.");

        var ok = TrapAndReplace.Configure().WithBackbone(new WideResNet16Backbone());
        ok.Build();
        var again = () => ok.Build();
        again.Should().Throw<InvalidOperationException>().WithMessage("*already built*");
    }

    [Fact]
    public void Fit_names_every_input_problem_of_both_stages_before_anything_trains()
    {
        using var untrusted = Synthetic.ColourClasses(40, classes: 4, seed: 11);
        using var holdout = Synthetic.ColourClasses(8, classes: 4, seed: 12);   // 2 per class: round(0.1 x 2) = 0 kept
        using var wrongClasses = Synthetic.ColourClasses(64, classes: 3, seed: 13);
        var defense = TrapAndReplace.Configure()
            .WithBackbone(new WideResNet16Backbone(classCount: 4))
            .Trap(o => { o.Epochs = 1; o.BatchSize = 64; })
            .Replace(o => o.ValidationFraction = 0.1)
            .WithThreads(2)
            .Build();
        int epochs = 0;
        defense.EpochCompleted += (_, _) => epochs++;

        var act = () => defense.Fit(untrusted, holdout);
        var message = act.Should().Throw<ArgumentException>().Which.Message;
        message.Should().StartWith("nothing was trained: ")
            .And.Contain("fewer than one batch of Trap.BatchSize 64")
            .And.Contain("Replace.ValidationFraction 0.1 leaves no validation image in a holdout of 8")
            .And.Contain("Replace.Selection = LastEpoch");
        epochs.Should().Be(0, "the check runs before stage 1");

        var wrong = () => defense.Fit(wrongClasses, wrongClasses);
        wrong.Should().Throw<ArgumentException>().Which.Message.Should()
            .Contain("was built for 4 classes; the data set").And.Contain("has 3 classes; wrn16-1 was built for 4");
        epochs.Should().Be(0);
    }

    [Fact]
    public void The_holdout_rule_counts_what_the_split_would_hold_out()
    {
        long[] labels = [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2];   // 3, 7, 1 per class
        TrapReplace.Data.HoldoutSplit.HeldOutCount(labels, 0.2).Should().Be(1 + 1 + 0);
        TrapReplace.Data.HoldoutSplit.HeldOutCount(labels, 0.5).Should().Be(2 + 4 + 1, "halves round away from zero");
        TrapReplace.Data.HoldoutSplit.Create(labels, 0.5, seed: 4).HoldoutIndices.Count.Should().Be(7);
    }

    [Fact]
    public void Model_and_data_seeds_and_the_layout_are_set_once_for_both_stages()
    {
        var defense = TrapAndReplace.Configure().WithBackbone(new WideResNet16Backbone()).WithSeeds(modelSeed: 7, dataSeed: 3)
            .WithChannelsLast(false).Build();

        defense.TrapOptions.ModelSeed.Should().Be(7);
        defense.TrapOptions.DataSeed.Should().Be(3);
        defense.ReplaceOptions.ModelSeed.Should().Be(HeadReplacerOptions.FreshHeadSeed(7));
        defense.ReplaceOptions.DataSeed.Should().Be(3);
        defense.TrapOptions.ChannelsLast.Should().BeFalse();
        defense.ReplaceOptions.ChannelsLast.Should().BeFalse();
        TrapAndReplace.Configure().WithBackbone(new WideResNet16Backbone()).Build().TrapOptions.ChannelsLast.Should().BeTrue("the default");
    }

    [Fact]
    public void The_precision_is_set_once_for_both_stages_and_an_unknown_one_is_refused()
    {
        var defense = TrapAndReplace.Configure().WithBackbone(new WideResNet16Backbone()).WithPrecision(Precision.BFloat16).Build();

        defense.TrapOptions.Precision.Should().Be(Precision.BFloat16);
        defense.ReplaceOptions.Precision.Should().Be(Precision.BFloat16);
        TrapAndReplace.Configure().WithBackbone(new WideResNet16Backbone()).Build().ReplaceOptions.Precision.Should().Be(Precision.Float32, "the library's default; the runner picks MixedPrecision.Recommended");
        var unknown = () => TrapAndReplace.Configure().WithPrecision((Precision)7);
        unknown.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("precision");
        MixedPrecision.Recommended.Should().Be(MixedPrecision.NativeBFloat16Flag is null ? Precision.Float32 : Precision.BFloat16);
    }
}

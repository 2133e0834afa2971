using Microsoft.Extensions.Options;
using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Defense;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Training;

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
        defense.ReplaceOptions.ModelSeed.Should().Be(ModelSeed.ForReplacementHead(3));
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
}

using Microsoft.Extensions.Options;
using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Runtime;
using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Replacement;

public sealed class HeadReplacerTests
{
    private static readonly WideResNet16Backbone Backbone = new(4);

    private static TrapTrainingResult Trap(int n = 128) =>
        new TrapTrainer(new TrapTrainerOptions { Epochs = 2, BatchSize = 32, LearningRate = 3e-3, Threads = 2 })
            .Fit(Backbone, Synthetic.ColourClasses(n, seed: 5));

    private static HeadReplacerOptions Small(int epochs = 2) => new()
    {
        Epochs = epochs,
        BatchSize = 16,
        LearningRate = 3e-3,
        ValidationFraction = 0.25,
        Threads = 2,
    };

    [Fact]
    public void A_network_the_library_built_knows_its_backbone_so_the_replacer_needs_only_the_network()
    {
        using var trapped = Trap(64).Network;
        using var holdout = Synthetic.ColourClasses(32, seed: 6);
        trapped.Backbone.Should().BeSameAs(Backbone);

        var withBackbone = new HeadReplacer(Small(1)).Fit(trapped, Backbone, holdout);
        var withoutBackbone = new HeadReplacer(Small(1)).Fit(trapped, holdout);
        using var a = withBackbone.Network;
        using var b = withoutBackbone.Network;
        b.Backbone.Should().BeSameAs(Backbone);
        foreach (var (name, value) in a.Head.Module.state_dict())
            value.allclose(b.Head.Module.state_dict()[name], rtol: 0, atol: 0).Should().BeTrue($"the same seeded replacement gives the same head ({name})");

        // Composed by hand, a network has no backbone to read: the error says to pass it.
        using var composed = new TrapNetwork(Backbone.CreateStem(), Backbone.CreateHead(), null);
        FluentActions.Invoking(() => new HeadReplacer(Small(1)).Fit(composed, holdout))
            .Should().Throw<ArgumentException>().WithMessage("*composed without its backbone*");
    }

    [Fact]
    public void Only_the_new_head_gets_gradients_and_the_stem_batchnorm_statistics_do_not_move()
    {
        using var trapped = Trap().Network;
        using var holdout = Synthetic.ColourClasses(64, seed: 6);
        var before = trapped.Stem.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

        var result = new HeadReplacer(Small()).Fit(trapped, Backbone, holdout);
        using var defended = result.Network;

        foreach (var p in defended.Stem.Module.parameters())
        {
            p.requires_grad.Should().BeFalse();
            (p.grad is null).Should().BeTrue("no gradient may reach the frozen stem");
        }
        foreach (var p in defended.Head.Module.parameters())
            (p.grad is not null && p.grad.abs().sum().ToSingle() > 0).Should().BeTrue("every head parameter receives a gradient");
        foreach (var (name, value) in defended.Stem.Module.state_dict())
            value.allclose(before[name], 0, 0).Should().BeTrue($"stem entry {name} (weights and BN running statistics) must not change");
        foreach (var t in before.Values) t.Dispose();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_stem_receives_batches_in_the_layout_asked_for(bool channelsLast)
    {
        using var trapped = Trap().Network;
        using var holdout = Synthetic.ColourClasses(64, seed: 6);
        var options = Small(epochs: 2);
        options.ChannelsLast = channelsLast;
        var replacer = new HeadReplacer(options);
        var layouts = new List<bool>();
        // From the second epoch on (the first epoch's event hands out the network), record every batch: training
        // batches and the validation pass both follow the option.
        replacer.EpochCompleted += (_, e) =>
        {
            if (e.Record.Epoch == 0)
                e.Network!.Stem.Module.register_forward_pre_hook((_, input) =>
                {
                    layouts.Add(MemoryLayout.IsChannelsLast(input));
                    return input;
                });
        };

        using var defended = replacer.Fit(trapped, Backbone, holdout).Network;

        layouts.Should().NotBeEmpty().And.OnlyContain(c => c == channelsLast, "CutMix output, plain batches and validation batches alike reach the stem in the chosen layout");
    }

    [Fact]
    public void The_new_head_is_freshly_initialised_not_copied_and_has_no_decoder()
    {
        using var trapped = Trap().Network;
        using var holdout = Synthetic.ColourClasses(64, seed: 6);
        var options = Small(epochs: 1);
        options.LearningRate = 1e-12;

        var result = new HeadReplacer(options).Fit(trapped, Backbone, holdout);
        using var defended = result.Network;

        defended.ReconstructionHead.Should().BeNull();
        var oldFc = trapped.Head.Module.state_dict()["fc.weight"];
        var newFc = defended.Head.Module.state_dict()["fc.weight"];
        oldFc.sub(newFc).abs().max().ToSingle().Should().BeGreaterThan(1e-3f);
        // The stem is a copy: a different object with equal weights.
        ReferenceEquals(defended.Stem.Module, trapped.Stem.Module).Should().BeFalse();
    }

    [Fact]
    public void Selection_uses_the_validation_split_of_the_holdout_and_accuracy_rises_above_chance()
    {
        using var trapped = Trap(256).Network;
        using var holdout = Synthetic.ColourClasses(96, seed: 7);
        using var test = Synthetic.ColourClasses(128, seed: 8);
        var options = Small(epochs: 4);

        var result = new HeadReplacer(options).Fit(trapped, Backbone, holdout);
        using var defended = result.Network;

        result.ValidationCount.Should().Be(24);
        result.HoldoutTrainCount.Should().Be(72);
        result.History.Should().OnlyContain(r => r.ValidationAccuracy != null);
        result.ValidationAccuracy.Should().Be(result.History.Max(r => r.ValidationAccuracy));
        result.History[result.SelectedEpoch].ValidationAccuracy.Should().Be(result.ValidationAccuracy);
        Evaluator.Evaluate(defended, test).CleanAccuracy.Should().BeGreaterThan(0.5);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_resumed_stage_2_returns_the_head_and_every_snapshot_of_an_uninterrupted_one(bool snapshotLost)
    {
        using var trapped = Trap(64).Network;
        using var holdout = Synthetic.ColourClasses(48, seed: 6);
        var folder = Directory.CreateTempSubdirectory("head-replacer").FullName;
        var options = Small(epochs: 4);
        options.HeadSnapshots = 4;
        var uninterrupted = new HeadReplacer(options).Fit(trapped, Backbone, holdout);
        HeadReplacementResult? resumed = null;
        try
        {
            options.CheckpointDirectory = folder;
            using (var cts = new CancellationTokenSource())
            {
                var first = new HeadReplacer(options);
                first.EpochCompleted += (_, e) =>
                {
                    // Raised before the epoch's checkpoint, which still holds the epoch before.
                    if (e.Record.Epoch > 0)
                        Checkpoint.ReadHeader(Path.Combine(folder, HeadReplacer.CheckpointFileName)).CompletedEpochs.Should().Be(e.Record.Epoch);
                    if (e.Record.Epoch == 1) cts.Cancel();
                };
                FluentActions.Invoking(() => first.Fit(trapped, Backbone, holdout, cts.Token)).Should().Throw<OperationCanceledException>();
            }
            File.Exists(Path.Combine(folder, HeadReplacer.SnapshotFileName(1))).Should().BeTrue();
            File.Exists(Path.Combine(folder, HeadReplacer.SnapshotFileName(2))).Should().BeFalse();
            if (snapshotLost) File.Delete(Path.Combine(folder, HeadReplacer.SnapshotFileName(0)));

            var epochs = new List<int>();
            var second = new HeadReplacer(options);
            second.EpochCompleted += (_, e) => epochs.Add(e.Record.Epoch);
            resumed = second.Fit(trapped, Backbone, holdout);

            // Without epoch 0's head the checkpoint cannot give what an uninterrupted run gives: it is moved aside, and
            // stage 2 starts again rather than return fewer snapshots.
            epochs.Should().Equal(snapshotLost ? [0, 1, 2, 3] : [2, 3]);
            File.Exists(Path.Combine(folder, HeadReplacer.CheckpointFileName + ".damaged")).Should().Be(snapshotLost);
            resumed.SelectedEpoch.Should().Be(uninterrupted.SelectedEpoch);
            resumed.Snapshots.Select(x => (x.Epoch, x.ValidationAccuracy)).Should().Equal(uninterrupted.Snapshots.Select(x => (x.Epoch, x.ValidationAccuracy)));
            resumed.Snapshots.Select(x => x.Epoch).Should().Equal(0, 1, 2, 3);
            foreach (var (a, b) in uninterrupted.Snapshots.Zip(resumed.Snapshots))
                foreach (var (name, value) in a.State)
                    value.allclose(b.State[name], 0, 0).Should().BeTrue($"epoch {a.Epoch}'s snapshot of {name} should be bit-identical");
            foreach (var (name, value) in uninterrupted.Network.Head.Module.state_dict())
                value.allclose(resumed.Network.Head.Module.state_dict()[name], 0, 0).Should().BeTrue($"the returned head's {name} should be bit-identical");
        }
        finally
        {
            foreach (var result in new[] { uninterrupted, resumed })
            {
                result?.Network.Dispose();
                result?.DisposeSnapshots();
            }
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Best_validation_without_a_validation_split_is_an_option_error()
    {
        var act = () => new HeadReplacer(new HeadReplacerOptions { ValidationFraction = 0, Dropout = 1.5 });
        act.Should().Throw<OptionsValidationException>()
            .Which.Failures.Should().HaveCount(2).And.Contain(f => f.Contains("ValidationFraction > 0", StringComparison.Ordinal));
    }

    [Fact]
    public void CutMix_pastes_one_box_and_sets_lambda_to_the_unpasted_area()
    {
        using var scope = NewDisposeScope();
        var images = arange(4, dtype: ScalarType.Float32).view(4, 1, 1, 1).expand(4, 3, 8, 8).contiguous();
        var labels = arange(4, dtype: ScalarType.Int64);
        using var generator = new Generator(3);

        var mixed = CutMix.Apply(images, labels, 1.0, new Random(11), generator);

        var first = mixed.Images[0, 0];
        var pasted = first.ne(0).sum().ToInt64();
        var source = mixed.PastedLabels[0].ToInt64();
        (1 - pasted / 64.0).Should().BeApproximately(mixed.Lambda, 1e-12);
        if (pasted > 0) first.max().ToSingle().Should().Be(source);
        mixed.PastedLabels.sort().Values.data<long>().ToArray().Should().Equal(0L, 1L, 2L, 3L);
    }
}

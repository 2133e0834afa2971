using Microsoft.Extensions.Options;
using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Peers;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Peers;

public sealed class FinePruningTests
{
    private static readonly int[] Dormant = [3, 17, 42];

    [Fact]
    public void Pruned_channels_are_the_lowest_activation_ones_on_the_holdout_and_the_level_is_the_last_above_the_accuracy_floor()
    {
        // Whole-trunk split: the head is pooling + fc, so the classifier inputs are the pooled stem output
        // and the test can compute them independently.
        var backbone = new WideResNet16Backbone(4, WideResNetSplit.WholeTrunk);
        using var model = PeerTestModels.Trained(backbone);
        using (no_grad())
        {
            // Three channels made dormant by hand: constant -0.5 after the final BN + LeakyReLU, and unused by the classifier.
            var stem = model.Stem.Module.state_dict();
            var fc = model.Head.Module.state_dict()["fc.weight"];
            foreach (var c in Dormant)
            {
                stem["bn.weight"][c] = 0;
                stem["bn.bias"][c] = -5;
                fc[TensorIndex.Colon, c] = 0;
            }
        }
        var before = PeerTestModels.Snapshot(model);
        using var holdout = Synthetic.ColourClasses(96, seed: 6);
        var options = new FinePruningOptions { Epochs = 0, ValidationFraction = 0.25, PruneStepRatio = 1.0 / 64, Threads = 2 };

        var result = new FinePruning(options).Fit(model, backbone, holdout);
        using var defended = result.Network;

        // Independent computation of the ranking (training part) and of the rule (validation part).
        var (trainPart, validationPart) = HoldoutSplit.Create(holdout.LabelArray(), 0.25, 0).Apply(holdout);
        using var train = trainPart;
        using var validation = validationPart;
        model.eval();
        double[] activation;
        Tensor validationFeatures;
        using (no_grad())
        {
            using var trainImages = train.ImagesAsFloat();
            using var pooled = nn.functional.adaptive_avg_pool2d(model.Stem.Module.call(trainImages), 1).flatten(1);
            activation = pooled.to(ScalarType.Float64).mean([0]).data<double>().ToArray();
            using var validationImages = validation.ImagesAsFloat();
            validationFeatures = nn.functional.adaptive_avg_pool2d(model.Stem.Module.call(validationImages), 1).flatten(1);
        }
        var order = Enumerable.Range(0, 64).OrderBy(c => activation[c]).ToArray();
        order.Take(3).Should().BeEquivalentTo(Dormant, "the hand-made dormant channels have the lowest mean activation");

        int pruned = (int)result.PrunedChannels;
        pruned.Should().BeGreaterThanOrEqualTo(3, "pruning the unused dormant channels costs no accuracy");
        result.Channels.Should().Be(64);
        var weight = defended.Head.Module.state_dict()["fc.weight"];
        var zeroColumns = Enumerable.Range(0, 64).Where(c => weight[TensorIndex.Colon, c].abs().max().ToSingle() == 0).ToArray();
        zeroColumns.Should().BeEquivalentTo(order.Take(pruned), "exactly the k lowest-activation channels are pruned");

        using var labels = validation.Labels.clone();
        var originalWeight = model.Head.Module.state_dict()["fc.weight"];
        var originalBias = model.Head.Module.state_dict()["fc.bias"];
        double Accuracy(int k) => FinePruning.MaskedAccuracy(validationFeatures, labels, originalWeight, originalBias, order, k);
        double floor = 0.9 * Accuracy(0);
        result.ValidationAccuracyUnpruned.Should().BeApproximately(Accuracy(0), 1e-12);
        Accuracy(pruned).Should().BeGreaterThanOrEqualTo(floor);
        result.ValidationAccuracyPruned.Should().BeApproximately(Accuracy(pruned), 1e-12);
        if (pruned + 1 < 64) Accuracy(pruned + 1).Should().BeLessThan(floor, "the search stops at the first level below the floor");
        // The real network agrees with the cached-feature computation.
        defended.eval();
        TrapReplace.Evaluation.Evaluator.Accuracy(defended, validation, CPU).Should().BeApproximately(Accuracy(pruned), 1e-12);

        PeerTestModels.Unchanged(model, before).Should().BeTrue("the input model is never modified");
        validationFeatures.Dispose();
        PeerTestModels.DisposeAll(before);
    }

    [Fact]
    public void Fine_tuning_keeps_pruned_channels_at_zero_and_records_validation_accuracy_per_epoch()
    {
        var backbone = new WideResNet16Backbone(4);
        var model = PeerTestModels.SharedWrn;
        var before = PeerTestModels.Snapshot(model);
        using var holdout = Synthetic.ColourClasses(96, seed: 6);
        var options = new FinePruningOptions { Epochs = 2, BatchSize = 16, MinAccuracyRatio = 0.5, ValidationFraction = 0.25, Threads = 2 };
        var defense = new FinePruning(options);
        var epochs = new List<EpochCompletedEventArgs>();
        int steps = 0;
        defense.EpochCompleted += (_, e) => epochs.Add(e);
        defense.StepCompleted += (_, _) => steps++;

        var result = defense.Fit(model, backbone, holdout);
        using var defended = result.Network;

        int pruned = (int)result.PrunedChannels;
        pruned.Should().BeGreaterThan(0);
        var weight = defended.Head.Module.state_dict()["fc.weight"];
        Enumerable.Range(0, 64).Count(c => weight[TensorIndex.Colon, c].abs().max().ToSingle() == 0).Should().Be(pruned);
        PeerTestModels.MaxDifference(defended.Stem.Module, model.Stem.Module).Should().BeGreaterThan(0, "fine-tuning trains the whole network");
        result.History.Should().HaveCount(2);
        result.History.Should().OnlyContain(r => r.ValidationAccuracy.HasValue);
        result.ValidationAccuracyFinal.Should().Be(result.History[^1].ValidationAccuracy!.Value);
        epochs.Select(e => e.Stage).Should().AllBe("fine-pruning");
        steps.Should().Be(2 * 5, "72 training images in batches of 16, last batch kept");
        defended.training.Should().BeFalse();
        defended.ReconstructionHead.Should().BeNull();
        PeerTestModels.Unchanged(model, before).Should().BeTrue();
        PeerTestModels.DisposeAll(before);
    }

    [NativeBf16Fact]
    public void In_bf16_the_pruning_is_the_same_and_the_fine_tuning_runs_mixed_with_float32_weights()
    {
        var backbone = new WideResNet16Backbone(4);
        var model = PeerTestModels.SharedWrn;
        using var holdout = Synthetic.ColourClasses(96, seed: 6);
        FinePruningOptions Options(TrapReplace.Runtime.Precision precision) =>
            new() { Epochs = 2, BatchSize = 16, MinAccuracyRatio = 0.5, ValidationFraction = 0.25, Threads = 2, Precision = precision };

        var full = new FinePruning(Options(TrapReplace.Runtime.Precision.Float32)).Fit(model, backbone, holdout);
        using var fullNetwork = full.Network;
        var mixed = new FinePruning(Options(TrapReplace.Runtime.Precision.BFloat16)).Fit(model, backbone, holdout);
        using var mixedNetwork = mixed.Network;

        mixed.PrunedChannels.Should().Be(full.PrunedChannels, "channels are ranked by float32 activations before any training");
        mixed.History.Should().OnlyContain(r => double.IsFinite(r.Loss.Total));
        mixedNetwork.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32);
        var weight = mixedNetwork.Head.Module.state_dict()["fc.weight"];
        Enumerable.Range(0, 64).Count(c => weight[TensorIndex.Colon, c].abs().max().ToSingle() == 0).Should().Be((int)mixed.PrunedChannels);
        PeerTestModels.MaxDifference(mixedNetwork, fullNetwork).Should().BeGreaterThan(0, "the bf16 forward passes change the training");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_network_receives_batches_in_the_layout_asked_for(bool channelsLast)
    {
        var model = PeerTestModels.SharedWrn;
        using var holdout = Synthetic.ColourClasses(64, seed: 6);
        var options = new FinePruningOptions { Epochs = 2, BatchSize = 16, MinAccuracyRatio = 0.5, ValidationFraction = 0.25, Threads = 2, ChannelsLast = channelsLast };
        var defense = new FinePruning(options);
        var layouts = new List<bool>();
        // From the second epoch on (the first epoch's event hands out the network), training and validation batches alike.
        defense.EpochCompleted += (_, e) =>
        {
            if (e.Record.Epoch == 0)
                e.Network!.Stem.Module.register_forward_pre_hook((_, input) =>
                {
                    layouts.Add(TrapReplace.Runtime.MemoryLayout.IsChannelsLast(input));
                    return input;
                });
        };

        using var defended = defense.Fit(model, holdout).Network;

        layouts.Should().NotBeEmpty().And.OnlyContain(c => c == channelsLast);
    }

    [Fact]
    public void Works_on_the_PreAct_ResNet18_head_with_512_channels()
    {
        var backbone = new PreActResNet18Backbone(4);
        using var model = ModelSeed.Build(3, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null));
        using var holdout = Synthetic.ColourClasses(40, seed: 6);

        var result = new FinePruning(new FinePruningOptions { Epochs = 0, ValidationFraction = 0.5, MinAccuracyRatio = 0, MaxPruneRatio = 0.25, Threads = 2 })
            .Fit(model, backbone, holdout);
        using var defended = result.Network;

        result.Channels.Should().Be(512);
        // With no accuracy floor the search runs to the cap: steps of ceil(5.12) = 6 channels up to 128.
        result.PrunedChannels.Should().Be(126);
        var weight = defended.Head.Module.state_dict()["fc.weight"];
        weight.abs().sum([0]).eq(0).sum().ToInt64().Should().Be(126);
    }

    [Fact]
    public void Invalid_options_are_all_reported_together()
    {
        var options = new FinePruningOptions { Epochs = -1, MinAccuracyRatio = 1.5, PruneStepRatio = 0, ValidationFraction = 0 };
        var act = () => new FinePruning(options);
        var error = act.Should().Throw<OptionsValidationException>().Which;
        error.Failures.Should().HaveCount(4);
        error.Message.Should().Contain("Epochs must be >= 0; got -1")
            .And.Contain("MinAccuracyRatio must be in [0, 1]; got 1.5")
            .And.Contain("PruneStepRatio must be in (0, 1]; got 0")
            .And.Contain("ValidationFraction must be in (0, 1); got 0");
    }
}

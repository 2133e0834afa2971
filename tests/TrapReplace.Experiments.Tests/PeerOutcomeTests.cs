using TrapReplace.Experiments.Defenses;
using TrapReplace.Models;
using TrapReplace.Peers;

namespace TrapReplace.Experiments.Tests;

/// <summary>Result files keep the names they had when peers reported dictionaries: the typed results' own properties,
/// snake_case, beside the options; never the network, history or time.</summary>
public sealed class PeerOutcomeTests
{
    [Fact]
    public void A_typed_peer_result_is_written_beside_its_options_under_the_result_file_names()
    {
        var backbone = new WideResNet16Backbone(10);
        using var network = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null);
        var pruning = new FinePruningResult
        {
            Network = network, History = [], Seconds = 12.5,
            Channels = 64, PrunedChannels = 16, ValidationAccuracyUnpruned = 0.9, ValidationAccuracyPruned = 0.85, ValidationAccuracyFinal = 0.88,
        };

        var outcome = PeerOutcome.From(pruning, new FinePruningOptions { Epochs = 7 }, 7);

        var json = outcome.Options;
        ((int)json["epochs"]!).Should().Be(7, "the options are there");
        ((int)json["channels"]!).Should().Be(64);
        ((int)json["pruned_channels"]!).Should().Be(16);
        ((double)json["prune_ratio"]!).Should().Be(0.25);
        ((double)json["validation_accuracy_unpruned"]!).Should().Be(0.9);
        ((double)json["validation_accuracy_pruned"]!).Should().Be(0.85);
        ((double)json["validation_accuracy_final"]!).Should().Be(0.88);
        json.ContainsKey("network").Should().BeFalse();
        json.ContainsKey("history").Should().BeFalse();
        json.ContainsKey("seconds").Should().BeFalse();
        outcome.Seconds.Should().Be(12.5);
    }

    [Fact]
    public void Missing_measurements_are_left_out_and_the_paper_threshold_keeps_its_name()
    {
        var backbone = new WideResNet16Backbone(10);
        using var network = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null);

        var nad = PeerOutcome.From(new NeuralAttentionDistillationResult { Network = network, History = [], Seconds = 1, TeacherEpochs = 3 },
            new NeuralAttentionDistillationOptions(), 3).Options;
        ((int)nad["teacher_epochs"]!).Should().Be(3);
        nad.ContainsKey("validation_accuracy_final").Should().BeFalse("no validation split, no value, not a null");

        var anp = PeerOutcome.From(new AdversarialNeuronPruningResult
        {
            Network = network, History = [], Seconds = 1, Neurons = 416, PrunedNeurons = 9, Threshold = 0.3,
            NeuronsBelowPaperThreshold = 7, ValidationAccuracyUnpruned = 0.9, ValidationAccuracyPruned = 0.89,
        }, new AdversarialNeuronPruningOptions(), 1).Options;
        ((int)anp["neurons_below_0.2"]!).Should().Be(7);
        ((int)anp["pruned_neurons"]!).Should().Be(9);

        var abl = PeerOutcome.From(new AntiBackdoorLearningResult { Network = network, History = [], Seconds = 1, IsolatedIndices = [4, 9, 11], IsolationLossThreshold = 0.02 },
            new AntiBackdoorLearningOptions(), 1).Options;
        ((int)abl["isolated_count"]!).Should().Be(3);
        abl.ContainsKey("isolated_indices").Should().BeFalse("the indices are scored separately, not listed in the options");
    }
}

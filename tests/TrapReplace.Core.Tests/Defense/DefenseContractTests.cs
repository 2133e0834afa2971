using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Defense;
using TrapReplace.Models;
using TrapReplace.Peers;

namespace TrapReplace.Core.Tests.Defense;

/// <summary>Every defense fits through one contract on what it may see, and names what it needs and lacks.</summary>
public sealed class DefenseContractTests
{
    [Fact]
    public void Each_defense_names_the_part_of_the_defense_data_it_needs_and_lacks()
    {
        using var holdout = Synthetic.ColourClasses(16, seed: 1);
        using var untrusted = Synthetic.ColourClasses(64, seed: 2);
        var backbone = new WideResNet16Backbone(4);
        using var model = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null) { Backbone = backbone };

        Message(new FineTuning(new FineTuningOptions()), new DefenseData { Untrusted = untrusted, CleanHoldout = holdout }).Should().StartWith("fine-tune needs DefenseData.Model");
        Message(new FinePruning(new FinePruningOptions()), new DefenseData { CleanHoldout = holdout }).Should().Be("fine-pruning needs DefenseData.Model (Parameter 'data')");
        Message(new NeuralAttentionDistillation(new NeuralAttentionDistillationOptions()), new DefenseData { Model = model }).Should().StartWith("nad needs DefenseData.CleanHoldout");
        Message(new AdversarialNeuronPruning(new AdversarialNeuronPruningOptions()), new DefenseData { Untrusted = untrusted }).Should().StartWith("anp needs DefenseData.Model");
        Message(new ImplicitBackdoorUnlearning(new ImplicitBackdoorUnlearningOptions()), new DefenseData { Model = model }).Should().StartWith("i-bau needs DefenseData.CleanHoldout");
        Message(new AntiBackdoorLearning(new AntiBackdoorLearningOptions()), new DefenseData { Untrusted = untrusted }).Should().StartWith("abl needs DefenseData.Backbone");
        Message(TrapAndReplace.Configure().WithBackbone(backbone).Build(), new DefenseData { Untrusted = untrusted, Model = model })
            .Should().StartWith("trap-replace needs DefenseData.CleanHoldout");
    }

    [Fact]
    public void Fine_tuning_trains_a_copy_of_the_whole_model_on_the_holdout()
    {
        var backbone = new WideResNet16Backbone(4);
        using var model = ModelSeed.Build(3, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null) { Backbone = backbone });
        using var holdout = Synthetic.ColourClasses(64, seed: 6);
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

        using var result = new FineTuning(new FineTuningOptions { Epochs = 2, BatchSize = 16, Threads = 2 }).Fit(model, holdout);

        result.History.Should().HaveCount(2);
        result.Network.ReconstructionHead.Should().BeNull("fine-tuning trains no decoder");
        var after = result.Network.state_dict();
        foreach (var name in new[] { "stem.conv1.weight", "head.fc.weight" })
        {
            model.state_dict()[name].equal(before[name]).all().item<bool>().Should().BeTrue($"{name}: the input model is not modified");
            after[name].equal(before[name]).all().item<bool>().Should().BeFalse($"{name}: stem and head both train");
        }
        foreach (var t in before.Values) t.Dispose();
    }

    [Fact]
    public void A_defense_used_through_the_contract_returns_its_typed_result()
    {
        var backbone = new WideResNet16Backbone(4, WideResNetSplit.WholeTrunk);
        using var model = ModelSeed.Build(3, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null) { Backbone = backbone });
        using var holdout = Synthetic.ColourClasses(40, seed: 6);
        IBackdoorDefense<BackdoorDefenseResult> defense =
            new FinePruning(new FinePruningOptions { Epochs = 0, ValidationFraction = 0.5, MinAccuracyRatio = 0, MaxPruneRatio = 0.25, Threads = 2 });

        using var result = defense.Fit(new DefenseData { Model = model, CleanHoldout = holdout });

        var pruning = result.Should().BeOfType<FinePruningResult>().Subject;
        pruning.Channels.Should().Be(64);
        pruning.PrunedChannels.Should().Be(16, "steps of ceil(64 x 0.01) = 1 channel; with no accuracy floor the search runs to the 25 % cap");
        pruning.PruneRatio.Should().Be(0.25);
        result.Network.Should().NotBeSameAs(model, "inputs are never modified; the defended network is a copy");
        result.History.Should().BeEmpty("no fine-tuning epoch ran");
    }

    private static string Message<TResult>(IBackdoorDefense<TResult> defense, DefenseData data) where TResult : BackdoorDefenseResult
    {
        var act = () => defense.Fit(data);
        return act.Should().Throw<ArgumentException>().Which.Message;
    }
}

using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Peers;

/// <summary>Small trained networks and state snapshots shared by the peer-defense tests.</summary>
internal static class PeerTestModels
{
    private static readonly Lazy<TrapNetwork> SharedWideResNet = new(() => Trained(new WideResNet16Backbone(4), n: 256, epochs: 4));

    /// <summary>The default-split WRN-16-1 (4 classes) trained for 32 steps, built once per test run and shared:
    /// the defenses must not modify it, and the tests check they do not. Long enough for the BatchNorm running
    /// statistics to settle, so eval-mode features resemble train-mode ones.</summary>
    public static TrapNetwork SharedWrn => SharedWideResNet.Value;

    /// <summary>A WRN-16-1 trained for two epochs (plain training, no trap) on 4-class colour data.</summary>
    public static TrapNetwork Trained(IBackbone backbone, int n = 128, int epochs = 2) =>
        new TrapTrainer(new TrapTrainerOptions
        {
            Epochs = 3,
            BatchSize = 32,
            LearningRate = 3e-3,
            ReconstructionWeight = 0,
            TotalVariationWeight = 0,
            Threads = 2,
        }).Fit(backbone, Synthetic.ColourClasses(n, seed: 5)).Network;

    private static readonly Lazy<BackdooredModel> SharedBackdoored = new(BackdooredModel.Train);

    /// <summary>A WRN-16-1 trained on BadNets-poisoned 16x16 colour data, with its clean holdout and test sets,
    /// built once per test run and shared (the defenses must not modify it).</summary>
    public static BackdooredModel Backdoored => SharedBackdoored.Value;

    /// <summary>A detached copy of every parameter and buffer.</summary>
    public static Dictionary<string, Tensor> Snapshot(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    /// <summary>True when every entry of <paramref name="module"/> equals the snapshot exactly.</summary>
    public static bool Unchanged(nn.Module module, Dictionary<string, Tensor> snapshot) =>
        module.state_dict().All(kv => kv.Value.allclose(snapshot[kv.Key], 0, 0));

    /// <summary>Largest absolute difference between two modules of the same architecture.</summary>
    public static float MaxDifference(nn.Module a, nn.Module b)
    {
        var other = b.state_dict();
        return a.state_dict().Where(kv => kv.Value.is_floating_point())
            .Max(kv => kv.Value.sub(other[kv.Key]).abs().max().ToSingle());
    }

    public static void DisposeAll(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}

/// <summary>A plainly trained network that learned a BadNets backdoor (white 4x4 square, target class 0) from
/// 10 % poisoned 16x16 colour data, plus a clean holdout, a clean test set and its triggered non-target images.</summary>
internal sealed record BackdooredModel(TrapNetwork Network, WideResNet16Backbone Backbone, ImageDataset Holdout, ImageDataset Test, ImageDataset Triggered)
{
    public const int Size = 16;

    /// <summary>Three epochs: enough for a 100 % attack success rate, short of the saturated confidence on
    /// which I-BAU's plain-gradient perturbation search finds no gradient.</summary>
    public static BackdooredModel Train()
    {
        var backbone = new WideResNet16Backbone(4, imageSize: Size);
        using var clean = Synthetic.ColourClasses(480, size: Size, seed: 21);
        var (poisoned, _) = AntiBackdoorLearningTests.Poison(clean, 0.1, seed: 4);
        using var untrusted = poisoned;
        var network = new TrapTrainer(new TrapTrainerOptions
        {
            Epochs = 3,
            BatchSize = 32,
            LearningRate = 3e-3,
            ReconstructionWeight = 0,
            TotalVariationWeight = 0,
            CropPadding = 0,
            HorizontalFlip = false,
            Threads = 2,
            // Pinned to the standard layout the peer tests' bounds were set on: channels-last training gives a
            // numerically different backdoored network (on it, 100 ANP iterations prune only 4 neurons and leave
            // 61 % ASR). These tests check the defenses on one fixed backdoored model, not the trainer.
            ChannelsLast = false,
        }).Fit(backbone, untrusted).Network;
        var holdout = Synthetic.ColourClasses(160, size: Size, seed: 22);
        var test = Synthetic.ColourClasses(200, size: Size, seed: 23);
        // Every non-target test image with the trigger (150 of 200 are not class 0).
        var (all, indices) = AntiBackdoorLearningTests.Poison(test, 0.75, seed: 5);
        using var allTriggered = all;
        var triggered = allTriggered.Subset(indices.Order().ToArray());
        return new BackdooredModel(network, backbone, holdout, test, triggered);
    }

    /// <summary>Share of the triggered non-target images classified as the target class 0.</summary>
    public double AttackSuccessRate(TrapNetwork network) => TrapReplace.Evaluation.Evaluator.Accuracy(network, Triggered, TorchSharp.torch.CPU);

    /// <summary>Clean test accuracy.</summary>
    public double CleanAccuracy(TrapNetwork network) => TrapReplace.Evaluation.Evaluator.Accuracy(network, Test, TorchSharp.torch.CPU);
}

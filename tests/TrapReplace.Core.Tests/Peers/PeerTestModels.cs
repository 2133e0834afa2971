using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Models;
using TrapReplace.Training;
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
            Epochs = epochs,
            BatchSize = 32,
            LearningRate = 3e-3,
            ReconstructionWeight = 0,
            TotalVariationWeight = 0,
            Threads = 2,
        }).Fit(backbone, Synthetic.ColourClasses(n, seed: 5)).Network;

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

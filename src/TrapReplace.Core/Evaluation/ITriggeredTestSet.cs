using static TorchSharp.torch;

namespace TrapReplace.Evaluation;

/// <summary>
/// Test images with a backdoor trigger applied, for attack success rate and robust accuracy.
/// Holds only images whose true label is not the target. Core needs no reference to any attack
/// library: the experiment layer (or the user) adapts its attack's output to this.
/// </summary>
public interface ITriggeredTestSet
{
    /// <summary>Triggered images, (N, 3, H, W) float32 in [0, 1].</summary>
    Tensor Images { get; }

    /// <summary>The true (pre-attack) labels, (N) int64; none equals <see cref="TargetClass"/>.</summary>
    Tensor TrueLabels { get; }

    /// <summary>The class the attack wants.</summary>
    int TargetClass { get; }
}

/// <summary>A plain <see cref="ITriggeredTestSet"/> over tensors the caller owns (an attack assembly's triggered test
/// set needs no copy: <c>TrapReplace.Experiments.Poisoning.AttackAdapters.ForEvaluation</c>). Named apart from the attack
/// assembly's <c>TriggeredTestSet</c> so code that imports both namespaces compiles without aliases.</summary>
/// <param name="Images">Triggered images, (N, 3, H, W) float32 in [0, 1].</param>
/// <param name="TrueLabels">True labels (N) int64.</param>
/// <param name="TargetClass">Attack target.</param>
public sealed record TriggeredImages(Tensor Images, Tensor TrueLabels, int TargetClass) : ITriggeredTestSet;

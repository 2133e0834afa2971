using TorchSharp;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks.Poisoning;

/// <summary>A backdoor attack: a trigger plus a poisoning policy.</summary>
public interface IAttack
{
    /// <summary>Gets the kebab-case attack name (see <see cref="AttackCatalog.Names"/>).</summary>
    string Name { get; }

    /// <summary>Gets the trigger stamped on poisoned training images and on the test images of the ASR set.</summary>
    ITrigger Trigger { get; }

    /// <summary>Gets the poisoning policy as the attack applies it.</summary>
    PoisoningPolicy Policy { get; }

    /// <summary>Poisons a training set once (static poisoning).</summary>
    /// <param name="images">Training images (N, 3, H, W), float32 in [0, 1]; left unchanged.</param>
    /// <param name="labels">Training labels (N), int64 in [0, numClasses); left unchanged.</param>
    /// <param name="numClasses">Number of classes.</param>
    /// <returns>The poisoned set; the caller owns and disposes it.</returns>
    /// <exception cref="ArgumentException">Invalid images, labels or policy, or too few candidate samples.</exception>
    PoisonedDataset Poison(torch.Tensor images, torch.Tensor labels, int numClasses);

    /// <summary>Builds the triggered test set for the attack success rate: the non-target images only, triggered.</summary>
    /// <param name="images">Clean test images (N, 3, H, W), float32 in [0, 1]; left unchanged.</param>
    /// <param name="labels">Test labels (N), int64.</param>
    /// <returns>The triggered set; the caller owns and disposes it.</returns>
    /// <exception cref="ArgumentException">Invalid images or labels.</exception>
    TriggeredTestSet CreateTriggeredTestSet(torch.Tensor images, torch.Tensor labels);
}

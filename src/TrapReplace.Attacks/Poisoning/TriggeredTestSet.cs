using TorchSharp;

namespace TrapReplace.Attacks.Poisoning;

/// <summary>
/// The test images used for the attack success rate: every test image whose true label is not the target class,
/// with the test-time trigger applied. Owns its tensors; <see cref="Dispose"/> releases them.
/// </summary>
public sealed class TriggeredTestSet : IDisposable
{
    internal TriggeredTestSet(string attackName, torch.Tensor images, torch.Tensor trueLabels, IReadOnlyList<int> sourceIndices, int targetClass)
    {
        AttackName = attackName;
        Images = images;
        TrueLabels = trueLabels;
        SourceIndices = sourceIndices;
        TargetClass = targetClass;
    }

    /// <summary>Gets the name of the attack whose trigger was applied.</summary>
    public string AttackName { get; }

    /// <summary>Gets the triggered images (M, 3, H, W), float32 in [0, 1]; M is the number of non-target test images.</summary>
    public torch.Tensor Images { get; }

    /// <summary>Gets the true labels (M), int64, none equal to <see cref="TargetClass"/>. ASR counts predictions equal to
    /// the target; robust accuracy counts predictions equal to these labels.</summary>
    public torch.Tensor TrueLabels { get; }

    /// <summary>Gets, for each triggered image, its index in the test set it was made from (ascending).</summary>
    public IReadOnlyList<int> SourceIndices { get; }

    /// <summary>Gets the target class of the attack.</summary>
    public int TargetClass { get; }

    /// <summary>Gets the number of triggered images M.</summary>
    public int Count => SourceIndices.Count;

    /// <summary>Releases <see cref="Images"/> and <see cref="TrueLabels"/>.</summary>
    public void Dispose()
    {
        Images.Dispose();
        TrueLabels.Dispose();
    }
}

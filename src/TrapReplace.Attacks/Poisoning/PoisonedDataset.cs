using TorchSharp;

namespace TrapReplace.Attacks.Poisoning;

/// <summary>
/// A training set after poisoning: the images and labels (new tensors, owned by this object and released by
/// <see cref="Dispose"/>) and the record of which samples were poisoned.
/// </summary>
public sealed class PoisonedDataset : IDisposable
{
    internal PoisonedDataset(string attackName, torch.Tensor images, torch.Tensor labels, IReadOnlyList<int> poisonedIndices, PoisoningPolicy policy)
    {
        AttackName = attackName;
        Images = images;
        Labels = labels;
        PoisonedIndices = poisonedIndices;
        Policy = policy;
        IsPoisoned = new bool[images.shape[0]];
        foreach (int index in poisonedIndices)
        {
            IsPoisoned[index] = true;
        }
    }

    /// <summary>Gets the name of the attack that poisoned the set.</summary>
    public string AttackName { get; }

    /// <summary>Gets the images (N, 3, H, W), float32 in [0, 1], poisoned samples replaced in place of the clean ones.</summary>
    public torch.Tensor Images { get; }

    /// <summary>Gets the labels (N), int64; relabelled to the target class for dirty-label poisoning.</summary>
    public torch.Tensor Labels { get; }

    /// <summary>Gets the indices of the poisoned samples, sorted ascending.</summary>
    public IReadOnlyList<int> PoisonedIndices { get; }

    /// <summary>Gets the per-sample indicator: element i is true when sample i is poisoned. The array belongs to this
    /// object; do not modify it.</summary>
#pragma warning disable CA1819 // The API contract asks for a plain per-sample array.
    public bool[] IsPoisoned { get; }
#pragma warning restore CA1819

    /// <summary>Gets the policy the samples were chosen with (as the attack applied it; see each attack for overrides).</summary>
    public PoisoningPolicy Policy { get; }

    /// <summary>Gets the number of samples N.</summary>
    public int Count => IsPoisoned.Length;

    /// <summary>Releases <see cref="Images"/> and <see cref="Labels"/>.</summary>
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

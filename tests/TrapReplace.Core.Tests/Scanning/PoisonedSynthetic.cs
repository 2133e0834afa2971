using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Scanning;

/// <summary>
/// A seeded synthetic poisoning, trained once for all scan and cleansing tests: 480 colour-class images (4 classes),
/// 10 % of them non-target images with a white 6x6 square in the corner relabelled to class 0; a 6-epoch trap
/// network; a 6-epoch head replacement on a separate clean 160-image holdout (a quarter kept for validation).
/// </summary>
internal sealed class PoisonedSynthetic : IDisposable
{
    public const int Target = 0;

    public static readonly WideResNet16Backbone Backbone = new(4);

    private static readonly Lazy<PoisonedSynthetic> Instance = new(() => new PoisonedSynthetic());

    public static PoisonedSynthetic Shared => Instance.Value;

    // 10 % of the untrusted set, all non-target, get a white 6x6 square in the bottom-right corner and label 0.
    private static (ImageDataset Poisoned, int[] PoisonedIndices) Poison(ImageDataset clean, int seed)
    {
        var labels = clean.LabelArray();
        var candidates = Enumerable.Range(0, clean.Count).Where(i => labels[i] != Target).ToArray();
        new Random(seed).Shuffle(candidates);
        var chosen = candidates.Take(clean.Count / 10).Order().ToArray();
        using var images = clean.Images.clone();
        using var newLabels = clean.Labels.clone();
        foreach (var i in chosen)
        {
            images[i, TensorIndex.Colon, TensorIndex.Slice(26, 32), TensorIndex.Slice(26, 32)] = tensor((byte)255);
            newLabels[i] = tensor((long)Target);
        }
        return (ImageDataset.FromTensors(images, newLabels, clean.ClassNames, "poisoned"), chosen);
    }

    private PoisonedSynthetic()
    {
        using var clean = Synthetic.ColourClasses(480, seed: 11);
        (Untrusted, PoisonedIndices) = Poison(clean, seed: 3);
        Holdout = Synthetic.ColourClasses(160, seed: 12);
        Trapped = new TrapTrainer(new TrapTrainerOptions { Epochs = 6, BatchSize = 32, LearningRate = 3e-3, Threads = 2 })
            .Fit(Backbone, Untrusted).Network;
        Replacement = new HeadReplacer(new HeadReplacerOptions
        {
            Epochs = 6, BatchSize = 16, LearningRate = 3e-3, ValidationFraction = 0.25, Threads = 2, ModelSeed = HeadReplacerOptions.FreshHeadSeed(0),
        }).Fit(Trapped, Backbone, Holdout);
        Reference = Holdout.Subset(Replacement.ValidationIndices, "validation");
    }

    public ImageDataset Untrusted { get; }

    public int[] PoisonedIndices { get; }

    public ImageDataset Holdout { get; }

    public ImageDataset Reference { get; }

    public TrapNetwork Trapped { get; }

    public HeadReplacementResult Replacement { get; }

    public void Dispose()
    {
        Untrusted.Dispose();
        Holdout.Dispose();
        Reference.Dispose();
        Trapped.Dispose();
        Replacement.Network.Dispose();
        Replacement.DisposeSnapshots();
    }
}

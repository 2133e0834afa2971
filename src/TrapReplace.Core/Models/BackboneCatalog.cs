namespace TrapReplace.Models;

/// <summary>
/// The backbones by name: one identity for a backbone wherever it travels (<see cref="IBackbone.Name"/>, the runner's
/// <c>--backbone</c>, result files and cache keys).
/// </summary>
public static class BackboneCatalog
{
    /// <summary>WRN-16-1, the reference's CIFAR-10 / GTSRB backbone (32x32).</summary>
    public const string WideResNet16 = "wrn16-1";

    /// <summary>PreAct-ResNet-18 (32x32).</summary>
    public const string PreActResNet18 = "preact-resnet18";

    /// <summary>ResNet-34 (224x224 images, e.g. image folders).</summary>
    public const string ResNet34 = "resnet34";

    /// <summary>Every name <see cref="Create"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = [WideResNet16, PreActResNet18, ResNet34];

    /// <summary>The backbone called <paramref name="name"/> for <paramref name="classCount"/> classes, with its default
    /// split point and input size.</summary>
    /// <exception cref="ArgumentException">No backbone has that name (the message lists the names).</exception>
    public static IBackbone Create(string name, int classCount) => name switch
    {
        WideResNet16 => new WideResNet16Backbone(classCount),
        PreActResNet18 => new PreActResNet18Backbone(classCount),
        ResNet34 => new ResNet34Backbone(classCount),
        _ => throw new ArgumentException($"unknown backbone '{name}'; choose one of {string.Join(", ", Names)}", nameof(name)),
    };
}

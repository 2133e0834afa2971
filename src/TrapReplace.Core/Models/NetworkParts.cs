using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Models;

/// <summary>The shape of one sample (channels, height, width), without the batch dimension.</summary>
public readonly record struct FeatureShape(int Channels, int Height, int Width)
{
    /// <inheritdoc />
    public override string ToString() => $"({Channels}, {Height}, {Width})";
}

/// <summary>
/// The shared feature extractor. Input: images (N, 3, H, W), float32 in [0, 1] (not mean/std
/// normalised, as the reference). Output: features (N, C, h, w) with the shape of <see cref="OutputShape"/>.
/// </summary>
public interface IStem
{
    /// <summary>The TorchSharp module that computes the features (the built-in stems return themselves).</summary>
    nn.Module<Tensor, Tensor> Module { get; }

    /// <summary>The input this stem is built for.</summary>
    FeatureShape InputShape { get; }

    /// <summary>The feature shape the stem produces for <see cref="InputShape"/>.</summary>
    FeatureShape OutputShape { get; }
}

/// <summary>
/// The small classification head on the stem's features. Input: features (N, C, h, w) of the
/// stem's <see cref="IStem.OutputShape"/>. Output: logits (N, classes), float32.
/// </summary>
public interface IClassificationHead
{
    /// <summary>The TorchSharp module that computes the logits.</summary>
    nn.Module<Tensor, Tensor> Module { get; }

    /// <summary>Number of classes (logit columns).</summary>
    int ClassCount { get; }
}

/// <summary>
/// The auxiliary image-reconstruction head (decoder). Input: features (N, C, h, w) of the stem.
/// Output: reconstructed images (N, 3, H, W), float32 in [0, 1] (a sigmoid ends every built-in decoder).
/// </summary>
public interface IReconstructionHead
{
    /// <summary>The TorchSharp module that reconstructs the image.</summary>
    nn.Module<Tensor, Tensor> Module { get; }
}

/// <summary>
/// Adapts any TorchSharp module to the part interfaces, so users can plug in their own stem and
/// heads without subclassing ours.
/// </summary>
public sealed class ModulePart : IStem, IClassificationHead, IReconstructionHead
{
    private ModulePart(nn.Module<Tensor, Tensor> module, FeatureShape input, FeatureShape output, int classCount)
    {
        Module = module;
        InputShape = input;
        OutputShape = output;
        ClassCount = classCount;
    }

    /// <inheritdoc cref="IStem.Module" />
    public nn.Module<Tensor, Tensor> Module { get; }

    /// <inheritdoc />
    public FeatureShape InputShape { get; }

    /// <inheritdoc />
    public FeatureShape OutputShape { get; }

    /// <inheritdoc />
    public int ClassCount { get; }

    /// <summary>Wraps a module mapping images of <paramref name="input"/> to features of <paramref name="output"/>.</summary>
    public static IStem Stem(nn.Module<Tensor, Tensor> module, FeatureShape input, FeatureShape output) => new ModulePart(module, input, output, 0);

    /// <summary>Wraps a module mapping stem features to (N, <paramref name="classCount"/>) logits.</summary>
    public static IClassificationHead Head(nn.Module<Tensor, Tensor> module, int classCount) => new ModulePart(module, default, default, classCount);

    /// <summary>Wraps a module mapping stem features to (N, 3, H, W) images in [0, 1].</summary>
    public static IReconstructionHead Decoder(nn.Module<Tensor, Tensor> module) => new ModulePart(module, default, default, 0);
}

/// <summary>
/// A network architecture with a named split point: it builds the stem, and builds as many
/// fresh heads and decoders of matching shape as the method needs (stage 2 needs a new,
/// randomly initialised head of the same architecture as the trapped one).
/// </summary>
public interface IBackbone
{
    /// <summary>A short, stable name, e.g. <c>wrn-16-1</c>; written into result files.</summary>
    string Name { get; }

    /// <summary>The split point, e.g. <c>after-group3-block1</c>; written into result files.</summary>
    string Split { get; }

    /// <summary>Input images this backbone expects (3, H, W).</summary>
    FeatureShape InputShape { get; }

    /// <summary>Number of classes of the heads it builds.</summary>
    int ClassCount { get; }

    /// <summary>Creates a stem with fresh weights (drawn from TorchSharp's default generator).</summary>
    IStem CreateStem();

    /// <summary>Creates a classification head with fresh weights.</summary>
    /// <param name="dropout">Dropout probability inside the head's residual block (0 = none; stage 2 uses 0.5).</param>
    IClassificationHead CreateHead(double dropout = 0);

    /// <summary>Creates the reconstruction head that matches the stem's output.</summary>
    IReconstructionHead CreateReconstructionHead();
}

/// <summary>Seeds module construction: TorchSharp's init functions take no generator, so weight
/// draws come from the default generator, seeded right before building through <see cref="Runtime.TorchRuntime.Seeded"/>
/// (the library's one entry point to that process-wide generator; training steps go through it too).</summary>
internal static class ModelSeed
{
    /// <summary>Runs <paramref name="build"/> with TorchSharp's default generator seeded to <paramref name="seed"/>.</summary>
    public static T Build<T>(long seed, Func<T> build) => Runtime.TorchRuntime.Seeded(seed, build);

}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace TrapReplace.Models;

/// <summary>Where WideResNet-16-1 is cut into stem and head.</summary>
public enum WideResNetSplit
{
    /// <summary>The reference default: the stem ends after the first block of group 3 (64 ch, 8x8);
    /// the head is the second block of group 3, BN, LeakyReLU, pooling and the linear layer (~75k parameters).</summary>
    AfterGroup3Block1,

    /// <summary>The stem ends after group 2 (32 ch, 16x16); the head is all of group 3 plus the classifier.</summary>
    AfterGroup2,

    /// <summary>The stem is the whole trunk including the final BN and activation (64 ch, 8x8);
    /// the head is pooling and the linear layer.</summary>
    WholeTrunk,
}

/// <summary>
/// A pre-activation wide residual block as the Trap-and-Replace reference writes it (LeakyReLU 0.1,
/// conv biases). When the width changes, the first conv and the 1x1 shortcut both read the raw
/// input; <c>bn1</c> then exists (and holds parameters) but is not used, exactly as in the reference.
/// Input (N, in, H, W); output (N, out, H/stride, W/stride).
/// </summary>
public sealed class WideResNetBlock : Module<Tensor, Tensor>
{
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn2;
    private readonly Dropout? dropout;
    private readonly Conv2d conv2;
    private readonly Conv2d? shortcut;

    /// <summary>Creates a block.</summary>
    public WideResNetBlock(int inChannels, int outChannels, int stride, double dropout = 0) : base(nameof(WideResNetBlock))
    {
        bn1 = BatchNorm2d(inChannels);
        conv1 = Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1);
        bn2 = BatchNorm2d(outChannels);
        this.dropout = dropout > 0 ? Dropout(dropout) : null;
        conv2 = Conv2d(outChannels, outChannels, 3, padding: 1);
        shortcut = inChannels == outChannels && stride == 1 ? null : Conv2d(inChannels, outChannels, 1, stride: stride);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        Tensor residual, hidden;
        if (shortcut is null)
        {
            residual = input;
            hidden = conv1.call(functional.leaky_relu(bn1.call(input), 0.1));
        }
        else
        {
            residual = shortcut.call(input);
            hidden = conv1.call(input);
        }
        hidden = functional.leaky_relu(bn2.call(hidden), 0.1);
        if (dropout is not null) hidden = dropout.call(hidden);
        return residual.add(conv2.call(hidden)).MoveToOuterDisposeScope();
    }
}

/// <summary>WideResNet-16-1 stem: <c>conv1</c> then <c>blocks</c>, optionally ending with <c>bn</c>
/// and LeakyReLU (whole-trunk split). Input (N, 3, 32, 32) in [0, 1].</summary>
public sealed class WideResNetStem : Module<Tensor, Tensor>, IStem
{
    private readonly Conv2d conv1;
    private readonly Sequential blocks;
    private readonly BatchNorm2d? bn;

    internal WideResNetStem(IEnumerable<WideResNetBlock> stemBlocks, bool endsWithNorm, int outChannels, FeatureShape input, FeatureShape output)
        : base(nameof(WideResNetStem))
    {
        conv1 = Conv2d(3, 16, 3, padding: 1);
        blocks = Sequential(stemBlocks.Select((b, i) => ((string)i.ToString(System.Globalization.CultureInfo.InvariantCulture), (Module<Tensor, Tensor>)b)).ToArray());
        bn = endsWithNorm ? BatchNorm2d(outChannels) : null;
        InputShape = input;
        OutputShape = output;
        RegisterComponents();
    }

    /// <inheritdoc />
    public Module<Tensor, Tensor> Module => this;

    /// <inheritdoc />
    public FeatureShape InputShape { get; }

    /// <inheritdoc />
    public FeatureShape OutputShape { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = blocks.call(conv1.call(input));
        if (bn is not null) x = functional.leaky_relu(bn.call(x), 0.1);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>WideResNet-16-1 head: <c>blocks</c> (possibly none), then <c>bn</c> + LeakyReLU (unless
/// the stem already applied them), global average pooling and <c>fc</c>. Output (N, classes) logits.</summary>
public sealed class WideResNetHead : Module<Tensor, Tensor>, IClassificationHead
{
    private readonly Sequential blocks;
    private readonly BatchNorm2d? bn;
    private readonly Linear fc;

    internal WideResNetHead(IEnumerable<WideResNetBlock> headBlocks, bool startsWithNorm, int channels, int classCount) : base(nameof(WideResNetHead))
    {
        blocks = Sequential(headBlocks.Select((b, i) => ((string)i.ToString(System.Globalization.CultureInfo.InvariantCulture), (Module<Tensor, Tensor>)b)).ToArray());
        bn = startsWithNorm ? BatchNorm2d(channels) : null;
        fc = Linear(channels, classCount);
        ClassCount = classCount;
        RegisterComponents();
        init.xavier_normal_(fc.weight);
        init.zeros_(fc.bias);
    }

    /// <inheritdoc />
    public Module<Tensor, Tensor> Module => this;

    /// <inheritdoc />
    public int ClassCount { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = blocks.call(input);
        if (bn is not null) x = functional.leaky_relu(bn.call(x), 0.1);
        x = functional.adaptive_avg_pool2d(x, 1).flatten(1);
        return fc.call(x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// WideResNet-16-1 (depth 16, widen factor 1: channels 16/16/32/64, two blocks per group), the
/// paper's network for CIFAR-10 and GTSRB (32x32). About 175.6k parameters with the default split:
/// stem 100.7k, head 74.9k, reconstruction head 34.3k.
/// </summary>
/// <remarks>Zagoruyko and Komodakis, "Wide Residual Networks", BMVC 2016; split and decoders as in
/// Wang et al., "Trap and Replace", NeurIPS 2022.</remarks>
public sealed class WideResNet16Backbone : IBackbone
{
    private static readonly (int In, int Out, int Stride)[] BlockPlan =
        [(16, 16, 1), (16, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)];

    /// <summary>Creates the definition.</summary>
    public WideResNet16Backbone(int classCount = 10, WideResNetSplit split = WideResNetSplit.AfterGroup3Block1, int imageSize = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 2);
        if (imageSize % 4 != 0) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "image size must be a multiple of 4");
        if (!Enum.IsDefined(split)) throw new ArgumentOutOfRangeException(nameof(split), split, "unknown split");
        ClassCount = classCount;
        SplitPoint = split;
        InputShape = new FeatureShape(3, imageSize, imageSize);
    }

    /// <inheritdoc />
    public string Name => BackboneCatalog.WideResNet16;

    /// <inheritdoc />
    public string Split => SplitPoint switch
    {
        WideResNetSplit.AfterGroup2 => "after-group2",
        WideResNetSplit.WholeTrunk => "whole-trunk",
        _ => "after-group3-block1",
    };

    /// <summary>The typed split point.</summary>
    public WideResNetSplit SplitPoint { get; }

    /// <inheritdoc />
    public FeatureShape InputShape { get; }

    /// <inheritdoc />
    public int ClassCount { get; }

    private int StemBlockCount => SplitPoint switch { WideResNetSplit.AfterGroup2 => 4, WideResNetSplit.WholeTrunk => 6, _ => 5 };

    private FeatureShape StemOutput => SplitPoint == WideResNetSplit.AfterGroup2
        ? new FeatureShape(32, InputShape.Height / 2, InputShape.Width / 2)
        : new FeatureShape(64, InputShape.Height / 4, InputShape.Width / 4);

    /// <inheritdoc />
    public IStem CreateStem() => new WideResNetStem(
        BlockPlan.Take(StemBlockCount).Select(p => new WideResNetBlock(p.In, p.Out, p.Stride)),
        endsWithNorm: SplitPoint == WideResNetSplit.WholeTrunk, 64, InputShape, StemOutput).InitialiseConvs();

    /// <inheritdoc />
    public IClassificationHead CreateHead(double dropout = 0)
    {
        if (dropout is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1)");
        return new WideResNetHead(
            BlockPlan.Skip(StemBlockCount).Select(p => new WideResNetBlock(p.In, p.Out, p.Stride, dropout)),
            startsWithNorm: SplitPoint != WideResNetSplit.WholeTrunk, 64, ClassCount).InitialiseConvs();
    }

    /// <inheritdoc />
    public IReconstructionHead CreateReconstructionHead() => SplitPoint == WideResNetSplit.AfterGroup2
        ? new ConvTransposeDecoder([new(32, 32, 4, 2, 1), new(32, 3, 3, 1, 1)])
        : new ConvTransposeDecoder([new(64, 32, 4, 2, 1), new(32, 3, 4, 2, 1)]);
}

/// <summary>Weight initialisation shared by the residual backbones.</summary>
internal static class Initialisation
{
    /// <summary>Kaiming-normal (fan_out) for every convolution, as the reference (leaky_relu
    /// gain for WideResNet, relu gain for the ResNets, as torchvision).</summary>
    public static T InitialiseConvs<T>(this T module, init.NonlinearityType nonlinearity = init.NonlinearityType.LeakyReLU) where T : Module
    {
        using var noGrad = no_grad();
        foreach (var (_, child) in module.named_modules())
            if (child is Conv2d conv)
                init.kaiming_normal_(conv.weight, mode: init.FanInOut.FanOut, nonlinearity: nonlinearity);
        return module;
    }
}

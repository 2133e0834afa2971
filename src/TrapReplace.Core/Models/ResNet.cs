using System.Globalization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace TrapReplace.Models;

/// <summary>
/// Pre-activation basic block (He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016)
/// as BackdoorBench's PreAct-ResNet-18 writes it: BN-ReLU-conv twice, 1x1 shortcut on the
/// activated input when the shape changes, no conv biases.
/// </summary>
public sealed class PreActBlock : Module<Tensor, Tensor>
{
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn2;
    private readonly Dropout? dropout;
    private readonly Conv2d conv2;
    private readonly Conv2d? shortcut;

    /// <summary>Creates a block.</summary>
    public PreActBlock(int inChannels, int outChannels, int stride, double dropout = 0) : base(nameof(PreActBlock))
    {
        bn1 = BatchNorm2d(inChannels);
        conv1 = Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
        bn2 = BatchNorm2d(outChannels);
        this.dropout = dropout > 0 ? Dropout(dropout) : null;
        conv2 = Conv2d(outChannels, outChannels, 3, padding: 1, bias: false);
        shortcut = stride == 1 && inChannels == outChannels ? null : Conv2d(inChannels, outChannels, 1, stride: stride, bias: false);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var activated = functional.relu(bn1.call(input));
        var residual = shortcut is null ? input : shortcut.call(activated);
        var hidden = functional.relu(bn2.call(conv1.call(activated)));
        if (dropout is not null) hidden = dropout.call(hidden);
        return conv2.call(hidden).add_(residual).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// torchvision's ResNet basic block (He et al., CVPR 2016): conv-BN-ReLU-conv-BN plus identity or
/// a 1x1 conv + BN <c>downsample</c>, then ReLU. Key names match torchvision.
/// </summary>
public sealed class BasicBlock : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Dropout? dropout;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? downsample;

    /// <summary>Creates a block.</summary>
    public BasicBlock(int inChannels, int outChannels, int stride, double dropout = 0) : base(nameof(BasicBlock))
    {
        conv1 = Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
        bn1 = BatchNorm2d(outChannels);
        this.dropout = dropout > 0 ? Dropout(dropout) : null;
        conv2 = Conv2d(outChannels, outChannels, 3, padding: 1, bias: false);
        bn2 = BatchNorm2d(outChannels);
        downsample = stride == 1 && inChannels == outChannels
            ? null
            : Sequential(Conv2d(inChannels, outChannels, 1, stride: stride, bias: false), BatchNorm2d(outChannels));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var hidden = functional.relu(bn1.call(conv1.call(input)));
        if (dropout is not null) hidden = dropout.call(hidden);
        var residual = downsample is null ? input : downsample.call(input);
        return functional.relu(bn2.call(conv2.call(hidden)).add_(residual)).MoveToOuterDisposeScope();
    }
}

/// <summary>A residual-network stem: a <c>prologue</c> (first conv and, for ImageNet nets, BN, ReLU,
/// max-pool) then <c>blocks</c>. Input (N, 3, H, W) in [0, 1].</summary>
public sealed class ResidualStem : Module<Tensor, Tensor>, IStem
{
    private readonly Sequential prologue;
    private readonly Sequential blocks;

    internal ResidualStem(Sequential prologue, IEnumerable<Module<Tensor, Tensor>> stemBlocks, FeatureShape input, FeatureShape output) : base(nameof(ResidualStem))
    {
        this.prologue = prologue;
        blocks = Sequential(Numbered(stemBlocks));
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
        return blocks.call(prologue.call(input)).MoveToOuterDisposeScope();
    }

    internal static (string, Module<Tensor, Tensor>)[] Numbered(IEnumerable<Module<Tensor, Tensor>> modules) =>
        modules.Select((m, i) => (i.ToString(CultureInfo.InvariantCulture), m)).ToArray();
}

/// <summary>A residual-network head: <c>blocks</c>, global average pooling, <c>fc</c>. Output (N, classes) logits.</summary>
public sealed class ResidualHead : Module<Tensor, Tensor>, IClassificationHead
{
    private readonly Sequential blocks;
    private readonly Linear fc;

    internal ResidualHead(IEnumerable<Module<Tensor, Tensor>> headBlocks, int channels, int classCount) : base(nameof(ResidualHead))
    {
        blocks = Sequential(ResidualStem.Numbered(headBlocks));
        fc = Linear(channels, classCount);
        ClassCount = classCount;
        RegisterComponents();
    }

    /// <inheritdoc />
    public Module<Tensor, Tensor> Module => this;

    /// <inheritdoc />
    public int ClassCount { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var pooled = functional.adaptive_avg_pool2d(blocks.call(input), 1).flatten(1);
        return fc.call(pooled).MoveToOuterDisposeScope();
    }
}

/// <summary>Where PreAct-ResNet-18 is cut.</summary>
public enum PreActResNetSplit
{
    /// <summary>Default, by analogy with the WRN default: the head is the last block of layer 4 plus the classifier.</summary>
    AfterLayer4Block1,

    /// <summary>The head is all of layer 4 plus the classifier.</summary>
    AfterLayer3,
}

/// <summary>
/// PreAct-ResNet-18 for 32x32 inputs, the network most backdoor benchmarks (BackdoorBench) report on.
/// The reference Trap-and-Replace code has no split for it; ours mirrors the WRN default (the
/// last residual block goes to the head) and the decoder is our own design: transposed
/// convolutions doubling the resolution back to the input, ReLU between, sigmoid last.
/// </summary>
/// <remarks>He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016.</remarks>
public sealed class PreActResNet18Backbone : IBackbone
{
    private static readonly (int In, int Out, int Stride)[] Plan =
        [(64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2), (512, 512, 1)];

    /// <summary>Creates the definition.</summary>
    public PreActResNet18Backbone(int classCount = 10, PreActResNetSplit split = PreActResNetSplit.AfterLayer4Block1, int imageSize = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 2);
        if (imageSize % 8 != 0) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "image size must be a multiple of 8");
        if (!Enum.IsDefined(split)) throw new ArgumentOutOfRangeException(nameof(split), split, "unknown split");
        ClassCount = classCount;
        SplitPoint = split;
        InputShape = new FeatureShape(3, imageSize, imageSize);
    }

    /// <inheritdoc />
    public string Name => BackboneCatalog.PreActResNet18;

    /// <inheritdoc />
    public string Split => SplitPoint == PreActResNetSplit.AfterLayer3 ? "after-layer3" : "after-layer4-block1";

    /// <summary>The typed split point.</summary>
    public PreActResNetSplit SplitPoint { get; }

    /// <inheritdoc />
    public FeatureShape InputShape { get; }

    /// <inheritdoc />
    public int ClassCount { get; }

    private int StemBlocks => SplitPoint == PreActResNetSplit.AfterLayer3 ? 6 : 7;

    /// <inheritdoc />
    public IStem CreateStem()
    {
        int size = InputShape.Height;
        var output = SplitPoint == PreActResNetSplit.AfterLayer3
            ? new FeatureShape(256, size / 4, size / 4)
            : new FeatureShape(512, size / 8, size / 8);
        var prologue = Sequential(("conv1", Conv2d(3, 64, 3, padding: 1, bias: false)));
        return new ResidualStem(prologue, Plan.Take(StemBlocks).Select(p => (Module<Tensor, Tensor>)new PreActBlock(p.In, p.Out, p.Stride)), InputShape, output)
            .InitialiseConvs(init.NonlinearityType.ReLU);
    }

    /// <inheritdoc />
    public IClassificationHead CreateHead(double dropout = 0)
    {
        if (dropout is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1)");
        return new ResidualHead(Plan.Skip(StemBlocks).Select(p => (Module<Tensor, Tensor>)new PreActBlock(p.In, p.Out, p.Stride, dropout)), 512, ClassCount)
            .InitialiseConvs(init.NonlinearityType.ReLU);
    }

    /// <inheritdoc />
    public IReconstructionHead CreateReconstructionHead() => SplitPoint == PreActResNetSplit.AfterLayer3
        ? new ConvTransposeDecoder([new(256, 64, 4, 2, 1), new(64, 3, 4, 2, 1)])
        : new ConvTransposeDecoder([new(512, 256, 4, 2, 1), new(256, 64, 4, 2, 1), new(64, 3, 4, 2, 1)]);
}

/// <summary>Where ResNet-34 is cut.</summary>
public enum ResNet34Split
{
    /// <summary>The reference default for ImageNet-12: the stem ends after the second block of layer 4;
    /// the head is the third block of layer 4, pooling and the classifier.</summary>
    AfterLayer4Block2,

    /// <summary>The head is all of layer 4 plus the classifier.</summary>
    AfterLayer3,
}

/// <summary>
/// torchvision's ResNet-34 for 224x224 inputs (ImageNet-12 in the paper). Decoder as the
/// reference: five ConvTranspose(k4, s2, p1) layers 512-256-128-64-32-3 (7x7 to 224x224) with
/// non-affine InstanceNorm + ReLU after the 2nd and 4th, ReLU after the others, sigmoid last.
/// </summary>
/// <remarks>He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.</remarks>
public sealed class ResNet34Backbone : IBackbone
{
    private static readonly (int In, int Out, int Stride)[] Plan = BuildPlan();

    /// <summary>Creates the definition.</summary>
    public ResNet34Backbone(int classCount = 12, ResNet34Split split = ResNet34Split.AfterLayer4Block2, int imageSize = 224)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 2);
        if (imageSize % 32 != 0) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "image size must be a multiple of 32");
        if (!Enum.IsDefined(split)) throw new ArgumentOutOfRangeException(nameof(split), split, "unknown split");
        ClassCount = classCount;
        SplitPoint = split;
        InputShape = new FeatureShape(3, imageSize, imageSize);
    }

    /// <inheritdoc />
    public string Name => BackboneCatalog.ResNet34;

    /// <inheritdoc />
    public string Split => SplitPoint == ResNet34Split.AfterLayer3 ? "after-layer3" : "after-layer4-block2";

    /// <summary>The typed split point.</summary>
    public ResNet34Split SplitPoint { get; }

    /// <inheritdoc />
    public FeatureShape InputShape { get; }

    /// <inheritdoc />
    public int ClassCount { get; }

    private int StemBlocks => SplitPoint == ResNet34Split.AfterLayer3 ? 13 : 15;

    /// <inheritdoc />
    public IStem CreateStem()
    {
        int size = InputShape.Height;
        var output = SplitPoint == ResNet34Split.AfterLayer3
            ? new FeatureShape(256, size / 16, size / 16)
            : new FeatureShape(512, size / 32, size / 32);
        var prologue = Sequential(
            ("conv1", Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false)),
            ("bn1", BatchNorm2d(64)),
            ("relu", ReLU()),
            ("maxpool", MaxPool2d(3, stride: 2, padding: 1)));
        return new ResidualStem(prologue, Plan.Take(StemBlocks).Select(p => (Module<Tensor, Tensor>)new BasicBlock(p.In, p.Out, p.Stride)), InputShape, output)
            .InitialiseConvs(init.NonlinearityType.ReLU);
    }

    /// <inheritdoc />
    public IClassificationHead CreateHead(double dropout = 0)
    {
        if (dropout is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1)");
        return new ResidualHead(Plan.Skip(StemBlocks).Select(p => (Module<Tensor, Tensor>)new BasicBlock(p.In, p.Out, p.Stride, dropout)), 512, ClassCount)
            .InitialiseConvs(init.NonlinearityType.ReLU);
    }

    /// <inheritdoc />
    public IReconstructionHead CreateReconstructionHead() => SplitPoint == ResNet34Split.AfterLayer3
        ? new ConvTransposeDecoder([new(256, 128, 4, 2, 1), new(128, 64, 4, 2, 1, InstanceNorm: true), new(64, 32, 4, 2, 1), new(32, 3, 4, 2, 1)])
        : new ConvTransposeDecoder([new(512, 256, 4, 2, 1), new(256, 128, 4, 2, 1, InstanceNorm: true), new(128, 64, 4, 2, 1), new(64, 32, 4, 2, 1, InstanceNorm: true), new(32, 3, 4, 2, 1)]);

    private static (int, int, int)[] BuildPlan()
    {
        var plan = new List<(int, int, int)>();
        int inChannels = 64;
        foreach (var (channels, count, stride) in new[] { (64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2) })
            for (int i = 0; i < count; i++)
            {
                plan.Add((inChannels, channels, i == 0 ? stride : 1));
                inChannels = channels;
            }
        return plan.ToArray();
    }
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace TrapReplace.Models;

/// <summary>One transposed convolution of a decoder.</summary>
/// <param name="InChannels">Input channels.</param>
/// <param name="OutChannels">Output channels.</param>
/// <param name="Kernel">Kernel size.</param>
/// <param name="Stride">Stride (2 doubles the resolution with kernel 4, padding 1).</param>
/// <param name="Padding">Padding.</param>
/// <param name="InstanceNorm">Put a non-affine InstanceNorm before the ReLU that follows this layer.</param>
public readonly record struct DecoderLayer(int InChannels, int OutChannels, int Kernel, int Stride, int Padding, bool InstanceNorm = false);

/// <summary>
/// The reconstruction head: transposed convolutions with ReLU between them (optionally
/// InstanceNorm + ReLU) and a sigmoid at the end, so the output is an image in [0, 1].
/// State-dict keys follow PyTorch's nn.Sequential numbering: <c>layers.{i}.weight</c>.
/// </summary>
public sealed class ConvTransposeDecoder : Module<Tensor, Tensor>, IReconstructionHead
{
    private readonly Sequential layers;

    /// <summary>Builds the decoder from its layers, first to last.</summary>
    public ConvTransposeDecoder(IReadOnlyList<DecoderLayer> plan) : base(nameof(ConvTransposeDecoder))
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.Count == 0) throw new ArgumentException("a decoder needs at least one layer", nameof(plan));
        var modules = new List<Module<Tensor, Tensor>>();
        for (int i = 0; i < plan.Count; i++)
        {
            var l = plan[i];
            modules.Add(ConvTranspose2d(l.InChannels, l.OutChannels, l.Kernel, stride: l.Stride, padding: l.Padding));
            if (i == plan.Count - 1) break;
            if (l.InstanceNorm) modules.Add(InstanceNorm2d(l.OutChannels, affine: false));
            modules.Add(ReLU());
        }
        modules.Add(Sigmoid());
        layers = Sequential(modules);
        RegisterComponents();
    }

    /// <inheritdoc />
    public Module<Tensor, Tensor> Module => this;

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => layers.call(input);
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace TrapReplace.Peers;

/// <summary>
/// ANP's view of a network's neurons: every affine <see cref="BatchNorm2d"/> channel gets a mask m in [0, 1]
/// and, while <see cref="Perturbed"/> is on, a multiplicative noise (delta on the scale, xi on the shift) in
/// [-eps, eps]. The layer then computes gamma (m + delta) x_hat + beta (1 + xi) instead of gamma x_hat + beta,
/// where x_hat is the normalised input (batch statistics in training mode, running statistics in eval mode).
/// A mask of 0 is the same as pruning the channel (gamma = 0), which is how the defense prunes at the end.
/// </summary>
/// <remarks>Forward hooks replace each layer's output, so the network's own code is unchanged; the layer's
/// own forward still runs first (in training mode it updates its running statistics, which is why the
/// defense works on a copy it throws away).</remarks>
internal sealed class NeuronPerturbation : IDisposable
{
    private readonly List<Action> removers = [];
    private readonly List<Layer> layers = [];

    public NeuronPerturbation(nn.Module network, Device device)
    {
        foreach (var (name, module) in network.named_modules())
        {
            if (module is not BatchNorm2d bn || bn.weight is null || bn.bias is null) continue;
            long channels = bn.weight.shape[0];
            var layer = new Layer(name, bn, new Parameter(ones(channels, device: device)),
                zeros(channels, device: device), zeros(channels, device: device));
            layers.Add(layer);
            var remover = bn.register_forward_hook((_, input, _) => Recompute(layer, input));
            removers.Add(remover.remove);
        }
        if (layers.Count == 0)
            throw new NotSupportedException("the network has no affine BatchNorm2d layer; ANP perturbs and prunes BatchNorm channels");
    }

    /// <summary>The perturbed layers, in module order.</summary>
    public IReadOnlyList<Layer> Layers => layers;

    /// <summary>Whether the noise is applied (the mask always is).</summary>
    public bool Perturbed { get; set; }

    /// <summary>The masks, the only tensors the mask optimizer updates.</summary>
    public IEnumerable<Parameter> Masks => layers.Select(l => l.Mask);

    /// <summary>Draws fresh noise uniformly in [-eps, eps] from the global generator (seeded per step by the caller).</summary>
    public void ResetNoise(double eps)
    {
        using var noGrad = no_grad();
        foreach (var layer in layers)
        {
            layer.WeightNoise.uniform_(-eps, eps);
            layer.BiasNoise.uniform_(-eps, eps);
        }
    }

    /// <summary>One signed ascent step on <paramref name="loss"/> for the noise of every layer the network ran, projected back into [-eps, eps].</summary>
    public void AscendNoise(Func<Tensor> loss, double stepSize, double eps)
    {
        foreach (var layer in layers) layer.Used = false;
        var all = layers.SelectMany(l => new[] { l.WeightNoise, l.BiasNoise }).ToList();
        foreach (var n in all) n.requires_grad = true;
        try
        {
            var value = loss();
            // Layers the forward pass skipped (a block's unused BatchNorm) have no gradient; asking for one aborts libtorch.
            var noise = layers.Where(l => l.Used).SelectMany(l => new[] { l.WeightNoise, l.BiasNoise }).ToList();
            if (noise.Count == 0) return;
            var gradients = torch.autograd.grad([value], noise);
            using var noGrad = no_grad();
            for (int i = 0; i < noise.Count; i++)
            {
                noise[i].add_(gradients[i].sign(), stepSize).clamp_(-eps, eps);
                gradients[i].Dispose();
            }
        }
        finally
        {
            foreach (var n in all) n.requires_grad = false;
        }
    }

    /// <summary>Keeps every mask in [0, 1] (after each optimizer step).</summary>
    public void ClampMasks()
    {
        using var noGrad = no_grad();
        foreach (var layer in layers) layer.Mask.clamp_(0, 1);
    }

    /// <summary>Every neuron's mask value, layer by layer in module order, for the layers the network has run
    /// (a BatchNorm the forward pass never calls is not a neuron of the network).</summary>
    public IReadOnlyList<NeuronMask> MaskValues() =>
        layers.Where(l => l.EverUsed).SelectMany(l =>
        {
            using var values = l.Mask.detach().cpu().to(ScalarType.Float64);
            return values.data<double>().ToArray().Select((v, c) => new NeuronMask(l.Name, c, v));
        }).ToList();

    public void Dispose()
    {
        foreach (var remove in removers) remove();
        removers.Clear();
        foreach (var layer in layers)
        {
            layer.Mask.Dispose();
            layer.WeightNoise.Dispose();
            layer.BiasNoise.Dispose();
        }
        layers.Clear();
    }

    private Tensor Recompute(Layer layer, Tensor input)
    {
        layer.Used = true;
        layer.EverUsed = true;
        var bn = layer.Module;
        // Under bf16 autocast the convolution before hands over bf16; the statistics and the perturbed affine map are
        // float32, as BatchNorm's own kernel computes them.
        if (input.dtype != ScalarType.Float32) input = input.to(ScalarType.Float32);
        Tensor mean, variance;
        if (bn.training) (variance, mean) = torch.var_mean(input, [0, 2, 3], unbiased: false);
        else
        {
            mean = bn.running_mean!;
            variance = bn.running_var!;
        }
        // Folded into one per-channel affine map (scale a, shift b) so the replacement costs one pass over the activations.
        var gamma = Perturbed ? layer.Mask.add(layer.WeightNoise) : (Tensor)layer.Mask;
        var beta = Perturbed ? bn.bias!.mul(layer.BiasNoise.add(1)) : bn.bias!;
        var a = bn.weight!.mul(gamma).mul(variance.add(bn.eps).rsqrt());
        var b = beta.sub(mean.mul(a));
        return b.view(1, -1, 1, 1).addcmul(input, a.view(1, -1, 1, 1), 1);
    }

    /// <summary>One perturbed BatchNorm layer: its module name, the module, its mask and its noise (all of shape (C)).</summary>
    internal sealed record Layer(string Name, BatchNorm2d Module, Parameter Mask, Tensor WeightNoise, Tensor BiasNoise)
    {
        /// <summary>Whether the layer ran since the last noise step began.</summary>
        public bool Used { get; set; }

        /// <summary>Whether the layer has ever run.</summary>
        public bool EverUsed { get; set; }
    }
}

/// <summary>The mask ANP learned for one BatchNorm channel: near 0 means the network leans on this neuron
/// only under adversarial perturbation (backdoor neurons), near 1 means clean accuracy needs it.</summary>
/// <param name="Layer">The BatchNorm module's name in the network (e.g. <c>stem.blocks.0.bn2</c>).</param>
/// <param name="Channel">The channel within the layer.</param>
/// <param name="Value">The mask, in [0, 1].</param>
public sealed record NeuronMask(string Layer, int Channel, double Value);

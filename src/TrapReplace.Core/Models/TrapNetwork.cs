using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace TrapReplace.Models;

/// <summary>
/// A stem with a classification head and, during stage 1, a reconstruction head. Calling it maps
/// images (N, 3, H, W) in [0, 1] to logits (N, classes). State-dict keys are <c>stem.*</c>,
/// <c>head.*</c> and <c>decoder.*</c> (public API: checkpoints depend on them). The network owns
/// its parts: disposing it disposes them, so a stem shared with another network must be shared knowingly.
/// </summary>
public sealed class TrapNetwork : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> stem;
    private readonly Module<Tensor, Tensor> head;
    private readonly Module<Tensor, Tensor>? decoder;

    /// <summary>Composes the parts; <paramref name="reconstructionHead"/> may be null (no trap).</summary>
    public TrapNetwork(IStem stem, IClassificationHead head, IReconstructionHead? reconstructionHead) : base(nameof(TrapNetwork))
    {
        ArgumentNullException.ThrowIfNull(stem);
        ArgumentNullException.ThrowIfNull(head);
        Stem = stem;
        Head = head;
        ReconstructionHead = reconstructionHead;
        this.stem = stem.Module;
        this.head = head.Module;
        decoder = reconstructionHead?.Module;
        // Registered by hand: RegisterComponents would also pick up the parts through the
        // properties' backing fields and register every weight twice.
        register_module("stem", this.stem);
        register_module("head", this.head);
        if (decoder is not null) register_module("decoder", decoder);
    }

    /// <summary>The shared stem.</summary>
    public IStem Stem { get; }

    /// <summary>The classification head.</summary>
    public IClassificationHead Head { get; }

    /// <summary>The reconstruction head, or null once it has been thrown away.</summary>
    public IReconstructionHead? ReconstructionHead { get; }

    /// <summary>Number of classes.</summary>
    public int ClassCount => Head.ClassCount;

    /// <summary>The architecture the parts were built from; set by everything in this library that builds a network
    /// (trainers, replacer, peers, <see cref="Persistence.ModelFile.Load"/>), so the next step needs only the network.
    /// Null for a network composed by hand.</summary>
    public IBackbone? Backbone { get; init; }

    /// <summary><see cref="Backbone"/>, or an error naming the parameter when the network was composed without it.</summary>
    internal IBackbone RequireBackbone(string parameter) => Backbone
        ?? throw new ArgumentException("the network was composed without its backbone (TrapNetwork.Backbone); use the overload that takes the backbone", parameter);

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => head.call(stem.call(input));

    /// <summary>Logits (N, classes) and, when a reconstruction head is present, the reconstruction (N, 3, H, W) in [0, 1].</summary>
    public (Tensor Logits, Tensor? Reconstruction) ForwardWithReconstruction(Tensor input)
    {
        var features = stem.call(input);
        var logits = head.call(features);
        return (logits, decoder?.call(features));
    }

    /// <summary>Logits from the head on features computed by a frozen stem (no graph through the stem).</summary>
    internal Tensor ForwardWithFrozenStem(Tensor input)
    {
        Tensor features;
        using (no_grad()) features = stem.call(input);
        return head.call(features);
    }

    /// <summary>The name of the first parameter or floating-point buffer holding NaN or infinity; null when every weight is finite.</summary>
    public string? FirstNonFiniteWeight() => NetworkState.FirstNonFinite(this);

    /// <summary>Number of parameters of each part (reconstruction is 0 when absent).</summary>
    public (long Stem, long Head, long Reconstruction) ParameterCounts() =>
        (Count(stem), Count(head), decoder is null ? 0 : Count(decoder));

    private static long Count(Module module) => module.parameters().Sum(p => p.numel());
}

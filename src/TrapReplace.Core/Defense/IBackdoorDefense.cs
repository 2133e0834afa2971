using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Training;

namespace TrapReplace.Defense;

/// <summary>
/// The one contract every defense here follows (Trap and Replace and each peer): fit on what the defense may see in
/// deployment, return the defended network with a typed record of what the defense decided; progress arrives through
/// the <see cref="ITrainingEvents"/> events.
/// </summary>
/// <typeparam name="TResult">The defense's own result record.</typeparam>
public interface IBackdoorDefense<out TResult> : ITrainingEvents where TResult : BackdoorDefenseResult
{
    /// <summary>A short name for logs and reports.</summary>
    string Name { get; }

    /// <summary>Runs the defense. Inputs are never modified.</summary>
    /// <param name="data">What the defense may see; a defense names what it needs and is missing.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <exception cref="ArgumentException">Something the defense needs is missing from <paramref name="data"/> or does not fit.</exception>
    TResult Fit(DefenseData data, CancellationToken cancellationToken = default);
}

/// <summary>
/// What a defense may see in deployment: never the test set, never the attack. Post-training defenses (fine-pruning,
/// NAD, ANP, I-BAU) take <see cref="Model"/> and <see cref="CleanHoldout"/>; training-time defenses (Trap and Replace,
/// ABL) take <see cref="Untrusted"/> (and Trap and Replace <see cref="CleanHoldout"/>).
/// </summary>
public sealed record DefenseData
{
    /// <summary>The suspect (possibly backdoored) network, for defenses that repair a trained model.</summary>
    public TrapNetwork? Model { get; init; }

    /// <summary>A small clean, trusted set.</summary>
    public ImageDataset? CleanHoldout { get; init; }

    /// <summary>The untrusted training set, for defenses that train.</summary>
    public ImageDataset? Untrusted { get; init; }

    /// <summary>The architecture, for defenses that train from scratch and need one not given elsewhere (ABL).</summary>
    public IBackbone? Backbone { get; init; }

    /// <summary>Per-batch poisoning while training: only for evaluating a defense against training-time attacks (WaNet).</summary>
    public IBatchTransform? BatchTransform { get; init; }

    /// <summary>The value, or an <see cref="ArgumentException"/> that says which defense needs which part.</summary>
    internal T Require<T>(T? value, string part, string defense) where T : class =>
        value ?? throw new ArgumentException($"{defense} needs DefenseData.{part}", "data");
}

/// <summary>
/// What every defense returns: the defended network (a new object; dispose it, or the result), the per-epoch history
/// and the wall time. Derived records add what the defense decided, as typed properties (the experiment runner
/// writes them into result files with snake_case names; the network, history and time it writes elsewhere).
/// </summary>
public abstract record BackdoorDefenseResult : IDisposable
{
    /// <summary>The defended network.</summary>
    public required TrapNetwork Network { get; init; }

    /// <summary>One record per epoch (or round) the defense trained.</summary>
    public required IReadOnlyList<EpochRecord> History { get; init; }

    /// <summary>Wall time in seconds.</summary>
    public required double Seconds { get; init; }

    /// <summary>Disposes the defended network (and whatever else the result owns).</summary>
    public virtual void Dispose()
    {
        Network.Dispose();
        GC.SuppressFinalize(this);
    }
}

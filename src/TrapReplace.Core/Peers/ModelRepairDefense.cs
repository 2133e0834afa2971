using TrapReplace.Data;
using TrapReplace.Defense;
using TrapReplace.Models;
using TrapReplace.Training;

namespace TrapReplace.Peers;

/// <summary>
/// What the post-training defenses share (fine-tuning, fine-pruning, NAD, ANP, I-BAU): they repair a copy of a
/// trained, possibly backdoored model with a small clean holdout, raise the same events, and take their inputs as
/// <see cref="DefenseData"/>, as a model that knows its backbone, or with the backbone given.
/// </summary>
/// <typeparam name="TResult">The defense's typed result.</typeparam>
public abstract class ModelRepairDefense<TResult> : IBackdoorDefense<TResult> where TResult : BackdoorDefenseResult
{
    /// <summary>Raised after every training step.</summary>
    public event EventHandler<TrainingStepEventArgs>? StepCompleted;

    /// <summary>Raised after every epoch (or round).</summary>
    public event EventHandler<EpochCompletedEventArgs>? EpochCompleted;

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <summary>Repairs <see cref="DefenseData.Model"/> with <see cref="DefenseData.CleanHoldout"/>.</summary>
    /// <param name="data">The suspect model (it knows its backbone) and the clean holdout.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    public TResult Fit(DefenseData data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Fit(data.Require(data.Model, nameof(data.Model), Name), data.Require(data.CleanHoldout, nameof(data.CleanHoldout), Name), cancellationToken);
    }

    /// <summary>Repairs a copy of <paramref name="model"/>, which knows its <see cref="TrapNetwork.Backbone"/> (every
    /// network this library builds does).</summary>
    /// <param name="model">The trained, possibly backdoored network; it is not modified.</param>
    /// <param name="holdout">Clean, trusted images.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <exception cref="ArgumentException"><paramref name="model"/> was composed without its backbone.</exception>
    public TResult Fit(TrapNetwork model, ImageDataset holdout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Fit(model, model.RequireBackbone(nameof(model)), holdout, cancellationToken);
    }

    /// <summary>Repairs a copy of <paramref name="model"/>.</summary>
    /// <param name="model">The trained, possibly backdoored network; it is not modified.</param>
    /// <param name="backbone">The backbone <paramref name="model"/> was built from.</param>
    /// <param name="holdout">Clean, trusted images.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    public abstract TResult Fit(TrapNetwork model, IBackbone backbone, ImageDataset holdout, CancellationToken cancellationToken = default);

    /// <summary>Raises <see cref="StepCompleted"/>.</summary>
    protected void OnStepCompleted(TrainingStepEventArgs e) => StepCompleted?.Invoke(this, e);

    /// <summary>Raises <see cref="EpochCompleted"/>.</summary>
    protected void OnEpochCompleted(EpochCompletedEventArgs e) => EpochCompleted?.Invoke(this, e);
}

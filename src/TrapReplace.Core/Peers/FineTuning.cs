using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TrapReplace.Data;
using TrapReplace.Defense;
using TrapReplace.Models;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Peers;

/// <summary>
/// Fine-tuning: trains a copy of the whole model (stem and head) further on the clean holdout. Catastrophic forgetting
/// weakens some backdoors; most survive it, which is why it is the baseline.
/// </summary>
public sealed class FineTuning : ModelRepairDefense<FineTuningResult>
{
    private readonly FineTuningOptions options;
    private readonly ILogger<FineTuning> logger;

    /// <summary>Creates the defense; the options are validated and copied.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Some option is invalid (all are named).</exception>
    public FineTuning(FineTuningOptions options, ILogger<FineTuning>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        this.options = options.Clone();
        this.logger = logger ?? NullLogger<FineTuning>.Instance;
    }

    /// <summary>The options in use (a copy).</summary>
    public FineTuningOptions Options => options.Clone();

    /// <inheritdoc />
    public override string Name => "fine-tune";

    /// <summary>Fine-tunes a copy of <paramref name="model"/>.</summary>
    /// <param name="model">The trained, possibly backdoored network; it is not modified.</param>
    /// <param name="backbone">The backbone <paramref name="model"/> was built from.</param>
    /// <param name="holdout">Clean, trusted images.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    public override FineTuningResult Fit(TrapNetwork model, IBackbone backbone, ImageDataset holdout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        var trainer = new TrapTrainer(options.Trainer(), logger);
        trainer.StepCompleted += (_, e) => OnStepCompleted(e);
        trainer.EpochCompleted += (_, e) => OnEpochCompleted(e);
        var result = trainer.Continue(model, backbone, holdout, cancellationToken);
        return new FineTuningResult { Network = result.Network, History = result.History, Seconds = result.Seconds };
    }
}

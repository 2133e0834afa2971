using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Runtime;
using static TorchSharp.torch;
using TrapReplace.Training;

namespace TrapReplace.Trapping;

/// <summary>The outcome of stage 1.</summary>
/// <param name="Network">The trapped network (stem, original head, decoder), in eval mode. The caller owns it.</param>
/// <param name="History">One record per epoch, including epochs done before a resume.</param>
/// <param name="Seconds">Wall time of this call (not of earlier, resumed-from runs).</param>
public sealed record TrapTrainingResult(TrapNetwork Network, IReadOnlyList<EpochRecord> History, double Seconds);

/// <summary>
/// Stage 1, "bait and trap": trains stem, classification head and reconstruction head together on
/// untrusted data with CE + lambda * MSE + lambda2 * TV and one optimizer, so the backdoor
/// shortcut is learned mostly by the small head. With <see cref="TrapTrainerOptions.ReconstructionWeight"/>
/// 0 it is plain (undefended) training of the same network without a decoder.
/// </summary>
/// <remarks>Wang et al., "Trap and Replace: Defending Backdoor Attacks by Trapping Them into an
/// Easy-to-Replace Subnetwork", NeurIPS 2022.</remarks>
public sealed class TrapTrainer : ITrainingEvents
{
    /// <summary>Checkpoint file name inside <see cref="TrapTrainerOptions.CheckpointDirectory"/>.</summary>
    public const string CheckpointFileName = "trap.ckpt";

    private const string Stage = "trap";
    private readonly TrapTrainerOptions options;
    private readonly ILogger logger;

    /// <summary>Creates a trainer; the options are validated and copied.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Some option is invalid (all are named).</exception>
    public TrapTrainer(TrapTrainerOptions options, ILogger<TrapTrainer>? logger = null)
        : this(options, (ILogger?)logger ?? NullLogger<TrapTrainer>.Instance)
    {
    }

    // For stages that train with this loop under their own name (fine-tuning logs as FineTuning).
    internal TrapTrainer(TrapTrainerOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        this.options = options.Clone();
        this.logger = logger;
    }

    /// <summary>Raised after every optimisation step.</summary>
    public event EventHandler<TrainingStepEventArgs>? StepCompleted;

    /// <summary>Raised after every epoch, before its checkpoint is written (a run killed in between reruns the epoch).</summary>
    public event EventHandler<EpochCompletedEventArgs>? EpochCompleted;

    /// <summary>The options in use (a copy).</summary>
    public TrapTrainerOptions Options => options.Clone();

    /// <summary>
    /// Trains a fresh network of <paramref name="backbone"/> on <paramref name="untrusted"/>.
    /// </summary>
    /// <param name="backbone">Architecture and split.</param>
    /// <param name="untrusted">Training data (possibly poisoned), without the clean holdout.</param>
    /// <param name="batchTransform">Optional per-batch transform (training-time attacks).</param>
    /// <param name="cancellationToken">Stops between steps; the last epoch's checkpoint stays.</param>
    /// <exception cref="TrainingDivergedException">A loss became NaN or infinite.</exception>
    public TrapTrainingResult Fit(IBackbone backbone, ImageDataset untrusted, IBatchTransform? batchTransform = null, CancellationToken cancellationToken = default) =>
        Train(backbone, untrusted, batchTransform, start: null, cancellationToken);

    /// <summary>
    /// Continues training a copy of <paramref name="start"/>'s stem and head (all of it, nothing frozen) on
    /// <paramref name="data"/>: fine-tuning (<see cref="Peers.FineTuning"/>) when the reconstruction weights are 0;
    /// continued trap training (stem cleansing) when they are not, in which case <paramref name="start"/>'s decoder
    /// is copied too (a fresh one when it has none). <paramref name="start"/> is not modified.
    /// </summary>
    internal TrapTrainingResult Continue(TrapNetwork start, IBackbone backbone, ImageDataset data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(start);
        return Train(backbone, data, null, start, cancellationToken);
    }

    /// <summary>The network stage 1 starts from: stem, head and (with a reconstruction loss) decoder, built in that
    /// order from <see cref="TrainingRuntime.ModelSeed"/>.</summary>
    internal static TrapNetwork CreateNetwork(IBackbone backbone, TrapTrainerOptions options)
    {
        bool trap = options.ReconstructionWeight > 0 || options.TotalVariationWeight > 0;
        return ModelSeed.Build(options.ModelSeed, () =>
            new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), trap ? backbone.CreateReconstructionHead() : null) { Backbone = backbone });
    }

    private TrapTrainingResult Train(IBackbone backbone, ImageDataset untrusted, IBatchTransform? batchTransform, TrapNetwork? start, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(untrusted);
        if (DataProblems(backbone, untrusted, options) is { Count: > 0 } problems)
            throw new ArgumentException(string.Join("; ", problems), nameof(untrusted));
        TorchRuntime.Prepare(options.Threads);
        var device = options.Device.ToTorch();

        var network = CreateNetwork(backbone, options);
        if (start is not null)
        {
            NetworkState.Copy(start.Stem.Module, network.Stem.Module, "stem");
            NetworkState.Copy(start.Head.Module, network.Head.Module, "head");
            // Continuing a trap network keeps its decoder; fine-tuning without reconstruction builds none.
            if (start.ReconstructionHead is not null && network.ReconstructionHead is not null)
                NetworkState.Copy(start.ReconstructionHead.Module, network.ReconstructionHead.Module, "decoder");
        }
        network.to(device);
        using var optimizer = Optimization.Create(options.Optimizer, network.parameters(), options.LearningRate, options.WeightDecay, options.Momentum);
        var loader = new BatchLoader(untrusted, options.BatchSize, shuffle: true, dropLast: true,
            new Augmentation { Padding = options.CropPadding, HorizontalFlip = options.HorizontalFlip }, options.DataSeed);
        if (loader.BatchesPerEpoch == 0)
            throw new ArgumentException($"the training set has {untrusted.Count} samples, fewer than one batch of {options.BatchSize}", nameof(untrusted));

        var optionsJson = Checkpoint.Identity(options, o => { var copy = o.Clone(); copy.CheckpointDirectory = null; copy.Resume = true; return copy; });
        string? checkpointPath = options.CheckpointDirectory is null ? null : Path.Combine(options.CheckpointDirectory, CheckpointFileName);
        var history = new List<EpochRecord>();
        int startEpoch = 0;
        if (Checkpoint.TryResume(checkpointPath, options.Resume, Stage, optionsJson, network, optimizer, logger) is { } header)
        {
            history.AddRange(header.History);
            startEpoch = header.CompletedEpochs;
            TrainingLog.Resumed(logger, Stage, checkpointPath!, startEpoch);
        }

        var total = Stopwatch.StartNew();
        new EpochLoop
        {
            Runner = new EpochRunner
            {
                Stage = Stage, Logger = logger, Device = device, ModelSeed = options.ModelSeed, DataSeed = options.DataSeed,
                BatchTransform = batchTransform, ChannelsLast = options.ChannelsLast, CheckpointPath = checkpointPath,
                StepCompleted = e => StepCompleted?.Invoke(this, e),
            },
            Optimizer = optimizer,
            Loader = loader,
            Network = network,
            Epochs = options.Epochs,
            LearningRate = epoch => Optimization.CosineLearningRate(options.LearningRate, epoch, options.Epochs),
            BeginEpoch = _ => network.train(),
            Step = (images, labels, _, _) => Step(network, images, labels),
            EpochCompleted = e => EpochCompleted?.Invoke(this, e),
            SaveCheckpoint = checkpointPath is null ? null : (epoch, done) =>
                Checkpoint.Write(checkpointPath, new CheckpointHeader(Stage, epoch + 1, done, optionsJson), network, optimizer),
        }.Run(startEpoch, history, cancellationToken);
        network.eval();
        return new TrapTrainingResult(network, history, total.Elapsed.TotalSeconds);
    }

    // CE + lambda * MSE + lambda2 * TV; under bf16 autocast only the forward pass runs in bf16, the losses in float32.
    private StepOutput Step(TrapNetwork network, Tensor images, Tensor labels)
    {
        Tensor logits;
        Tensor? reconstruction;
        using (MixedPrecision.ScopeFor(options.Precision))
            (logits, reconstruction) = network.ForwardWithReconstruction(images);
        if (options.Precision != Precision.Float32)
        {
            logits = logits.to(ScalarType.Float32);
            reconstruction = reconstruction?.to(ScalarType.Float32);
        }
        var ce = nn.functional.cross_entropy(logits, labels);
        if (reconstruction is null) return new StepOutput(ce, logits, ce);
        var mse = ReconstructionLoss.MeanSquaredError(reconstruction, images);
        var tv = ReconstructionLoss.TotalVariation(reconstruction);
        return new StepOutput(ce + options.ReconstructionWeight * mse + options.TotalVariationWeight * tv, logits, ce, mse, tv);
    }

    /// <summary>
    /// What keeps <paramref name="data"/> from training <paramref name="backbone"/> with <paramref name="options"/>, one
    /// message per problem (empty when none); an option's name in a message is preceded by <paramref name="optionPrefix"/>.
    /// Checked before anything trains, here and by the fluent defense for both stages at once.
    /// </summary>
    internal static List<string> DataProblems(IBackbone backbone, ImageDataset data, TrapTrainerOptions options, string optionPrefix = "")
    {
        var problems = new List<string>();
        var expected = backbone.InputShape;
        if (data.Height != expected.Height || data.Width != expected.Width)
            problems.Add($"{backbone.Name} expects {expected.Height}x{expected.Width} images; the data set '{data.Name}' has {data.Height}x{data.Width}");
        if (data.ClassCount != backbone.ClassCount)
            problems.Add($"{backbone.Name} was built for {backbone.ClassCount} classes; the data set '{data.Name}' has {data.ClassCount}");
        if (data.Count < options.BatchSize)
            problems.Add($"the training set '{data.Name}' has {data.Count} samples, fewer than one batch of {optionPrefix}BatchSize {options.BatchSize}");
        return problems;
    }
}

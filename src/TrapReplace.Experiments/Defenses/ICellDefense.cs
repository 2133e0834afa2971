using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TrapReplace.Data;
using TrapReplace.Defense;
using TrapReplace.Experiments.Specs;
using TrapReplace.Models;
using TrapReplace.Training;

namespace TrapReplace.Experiments.Defenses;

/// <summary>Everything a defense may see: the cell, the backbone, the (poisoned) training data and the clean holdout. Never the test set or the attack.</summary>
/// <param name="Spec">The cell.</param>
/// <param name="Profile">Its schedule.</param>
/// <param name="Backbone">The architecture of the starting network.</param>
/// <param name="Untrusted">The training set as the attacker left it (defenses that train from scratch, like ABL).</param>
/// <param name="BatchTransform">Per-batch poisoning of a training-controlled attack (WaNet), applied when a defense trains on <paramref name="Untrusted"/>.</param>
/// <param name="Holdout">The clean, trusted images.</param>
/// <param name="Settings">Threads and device.</param>
/// <param name="Events">Where step and epoch events go (progress and curves).</param>
/// <param name="CancellationToken">Stops between steps.</param>
/// <param name="Logging">Where the library's warnings go (a skipped stem probe, a moved-aside checkpoint); null for nowhere.</param>
public sealed record DefenseContext(
    CellSpec Spec, ExperimentProfile Profile, IBackbone Backbone, ImageDataset Untrusted, IBatchTransform? BatchTransform, ImageDataset Holdout,
    RunSettings Settings, DefenseEvents Events, CancellationToken CancellationToken, ILoggerFactory? Logging = null)
{
    /// <summary>A folder where a defense that trains for long keeps its per-epoch checkpoint, so an interrupted cell
    /// resumes (the runner gives one per cell and removes it once the result is written); null for none. A defense
    /// that resumes numbers its epoch records continuously over its sub-stages, so the runner can match its curve.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary><see cref="Logging"/>, or a factory that drops everything.</summary>
    public ILoggerFactory Logs => Logging ?? NullLoggerFactory.Instance;

    /// <summary>What the library's defense contract gives a defense that starts from <paramref name="undefended"/>: the
    /// network, the clean holdout, the untrusted set (with the attack's batch poisoning, for defenses that train on it)
    /// and the architecture (for defenses that train a new network). Each defense takes the parts it needs.</summary>
    public DefenseData DataFor(TrapNetwork undefended) => new()
    {
        Model = undefended, CleanHoldout = Holdout, Untrusted = Untrusted, BatchTransform = BatchTransform, Backbone = Backbone,
    };

    /// <summary>Runs <paramref name="defense"/> on <see cref="DataFor"/>(<paramref name="undefended"/>) through the
    /// contract, its progress going to <see cref="Events"/>.</summary>
    public TResult Fit<TResult>(IBackdoorDefense<TResult> defense, TrapNetwork undefended) where TResult : BackdoorDefenseResult
    {
        ArgumentNullException.ThrowIfNull(defense);
        Events.Attach(defense);
        return defense.Fit(DataFor(undefended), CancellationToken);
    }
}

/// <summary>Receives a defense's training events.</summary>
/// <param name="Step">After every step.</param>
/// <param name="Epoch">After every epoch (the network is in the arguments, for the curves).</param>
public sealed record DefenseEvents(Action<TrainingStepEventArgs> Step, Action<EpochCompletedEventArgs> Epoch)
{
    /// <summary>Forwards the two events of a trainer or defense.</summary>
    public void Attach(ITrainingEvents source)
    {
        ArgumentNullException.ThrowIfNull(source);
        source.StepCompleted += (_, e) => Step(e);
        source.EpochCompleted += (_, e) => Epoch(e);
    }
}

/// <summary>What a defense produced.</summary>
/// <param name="Network">The defended network (the caller disposes it).</param>
/// <param name="Seconds">Wall time of the defense.</param>
/// <param name="Epochs">Epochs it trained, all its sub-stages together.</param>
/// <param name="Options">Its resolved options and what it decided (pruning level, selected epoch...).</param>
public sealed record DefenseOutcome(TrapNetwork Network, double Seconds, int Epochs, JsonObject Options)
{
    /// <summary>Training samples the defense set apart as suspicious (ABL), so the runner can report how many were really poisoned.</summary>
    public IReadOnlyList<int>? IsolatedIndices { get; init; }

    /// <summary>The poison scan the defense ran (trap-replace, trap-cleanse), for the runner to measure against the true poisoned indices.</summary>
    public Scanning.PoisonScanResult? Scan { get; init; }

    /// <summary>Networks the defense chose between and did not return, by name, for the runner to measure on the test
    /// set after the fact (evaluation only: the choice was made without it) and dispose.</summary>
    public IReadOnlyDictionary<string, TrapNetwork> Candidates { get; init; } = new Dictionary<string, TrapNetwork>();
}

/// <summary>A <c>--defense</c> choice of the runner.</summary>
public interface ICellDefense
{
    /// <summary>The kebab-case name given to <c>--defense</c>.</summary>
    string Name { get; }

    /// <summary>One line for the progress display.</summary>
    string Title { get; }

    /// <summary>True when the defense starts from the trap network (stage 1 with the reconstruction head); otherwise from the normally trained one.</summary>
    bool StartsFromTrap { get; }

    /// <summary>Defends; <paramref name="undefended"/> is the stage-1 network and must not be modified.</summary>
    DefenseOutcome Apply(TrapNetwork undefended, DefenseContext context);
}

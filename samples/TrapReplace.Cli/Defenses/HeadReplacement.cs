using System.Text.Json;
using System.Text.Json.Nodes;
using TrapReplace.Cli.Results;
using TrapReplace.Models;
using TrapReplace.Replacement;

namespace TrapReplace.Cli.Defenses;

/// <summary>
/// Stage 2 of Trap and Replace. After the trap it is the method (<c>trap-replace</c>); after normal training it is
/// the ablation that shows what the trap adds (<c>replace-only</c>).
/// </summary>
internal sealed class HeadReplacement(bool afterTrap) : ICellDefense
{
    public string Name => afterTrap ? "trap-replace" : "replace-only";

    public string Title => afterTrap ? "stage 2: replace the trapped head" : "replace the head of the normally trained model";

    public bool StartsFromTrap => afterTrap;

    public DefenseOutcome Apply(TrapNetwork undefended, DefenseContext context)
    {
        var options = context.Profile.ReplaceOptions(context.Spec.Seed, context.Settings.Threads, context.Settings.Device, context.Settings.ChannelsLast);
        var replacer = new HeadReplacer(options);
        context.Events.Attach(h => replacer.StepCompleted += h, h => replacer.EpochCompleted += h);
        var result = replacer.Fit(undefended, context.Backbone, context.Holdout, context.CancellationToken);
        var json = JsonSerializer.SerializeToNode(options, CellResult.Json)!.AsObject();
        json["selected_epoch"] = result.SelectedEpoch + 1;
        json["selected_validation_accuracy"] = result.ValidationAccuracy;
        return new DefenseOutcome(result.Network, result.Seconds, options.Epochs, json);
    }
}

/// <summary>The whole normally trained model trained further on the holdout (<c>fine-tune</c>).</summary>
internal sealed class FineTuning : ICellDefense
{
    public string Name => "fine-tune";

    public string Title => "fine-tune the whole model on the holdout";

    public bool StartsFromTrap => false;

    public DefenseOutcome Apply(TrapNetwork undefended, DefenseContext context)
    {
        var options = context.Profile.FineTuneOptions(context.Spec.Seed, context.Settings.Threads, context.Settings.Device, context.Settings.ChannelsLast);
        var trainer = new Training.TrapTrainer(options);
        context.Events.Attach(h => trainer.StepCompleted += h, h => trainer.EpochCompleted += h);
        var result = trainer.FineTune(undefended, context.Backbone, context.Holdout, context.CancellationToken);
        return new DefenseOutcome(result.Network, result.Seconds, options.Epochs, JsonSerializer.SerializeToNode(options, CellResult.Json)!.AsObject());
    }
}

using System.Reflection;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Core.Tests.Training;

public sealed class TrainingSettingsTests
{
    // Every public options class of a training stage: the ones with a model seed.
    private static readonly Type[] TrainingOptions = typeof(TrapTrainerOptions).Assembly.GetExportedTypes()
        .Where(t => t.IsClass && t.Name.EndsWith("Options", StringComparison.Ordinal) && t.GetProperty("ModelSeed") is not null)
        .OrderBy(t => t.Name).ToArray();

    [Fact]
    public void Every_training_stage_shares_the_runtime_part_and_the_epoch_stages_the_schedule()
    {
        TrainingOptions.Select(t => t.Name).Should().BeEquivalentTo(
            "AdversarialNeuronPruningOptions", "AntiBackdoorLearningOptions", "FinePruningOptions", "FineTuningOptions", "HeadReplacerOptions",
            "ImplicitBackdoorUnlearningOptions", "NeuralAttentionDistillationOptions", "TrapTrainerOptions");
        TrainingOptions.Should().OnlyContain(t => typeof(ITrainingRuntime).IsAssignableFrom(t));
        TrainingOptions.Where(t => typeof(ITrainingSchedule).IsAssignableFrom(t)).Select(t => t.Name).Should().BeEquivalentTo(
            "FinePruningOptions", "FineTuningOptions", "HeadReplacerOptions", "NeuralAttentionDistillationOptions", "TrapTrainerOptions");
    }

    [Fact]
    public void The_shared_parts_are_checked_the_same_way_in_every_options_class()
    {
        foreach (var type in TrainingOptions)
        {
            var options = (ITrainingRuntime)Activator.CreateInstance(type)!;
            Problems(options).Should().BeEmpty($"{type.Name}'s defaults are valid");
            options.Threads = -1;
            Problems(options).Should().Contain("Threads must be >= 0; got -1.", type.Name);

            if (options is not ITrainingSchedule schedule) continue;
            options.Threads = 0;
            schedule.BatchSize = 0;
            schedule.LearningRate = double.NaN;
            schedule.Momentum = 1;
            schedule.CropPadding = -1;
            Problems(options).Should().Equal(
                "BatchSize must be >= 1; got 0.", "LearningRate must be a positive number; got NaN.", "Momentum must be in [0, 1); got 1.",
                "CropPadding must be >= 0; got -1.");
        }
    }

    private static IReadOnlyList<string> Problems(ITrainingRuntime options) =>
        (IReadOnlyList<string>)options.GetType().GetMethod("Validate", BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes)!.Invoke(options, null)!;
}

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
        TrainingOptions.Should().OnlyContain(t => typeof(TrainingRuntime).IsAssignableFrom(t));
        TrainingOptions.Where(t => typeof(TrainingSchedule).IsAssignableFrom(t)).Select(t => t.Name).Should().BeEquivalentTo(
            "FinePruningOptions", "FineTuningOptions", "HeadReplacerOptions", "NeuralAttentionDistillationOptions", "TrapTrainerOptions");
    }

    [Fact]
    public void The_shared_settings_are_declared_once_not_retyped_in_each_class()
    {
        string[] runtime = ["ModelSeed", "DataSeed", "Device", "Threads", "ChannelsLast", "Precision"];
        string[] schedule = ["Epochs", "BatchSize", "Optimizer", "LearningRate", "WeightDecay", "Momentum", "CropPadding", "HorizontalFlip"];
        foreach (var type in TrainingOptions)
        {
            foreach (var name in runtime)
                type.GetProperty(name)!.DeclaringType.Should().Be(typeof(TrainingRuntime), $"{type.Name}.{name}");
            if (typeof(TrainingSchedule).IsAssignableFrom(type))
                foreach (var name in schedule)
                    type.GetProperty(name)!.DeclaringType.Should().Be(typeof(TrainingSchedule), $"{type.Name}.{name}");
        }
    }

    [Fact]
    public void Stage_one_options_keep_the_json_order_of_the_committed_stage1_records()
    {
        // The stage-1 cache compares the options' JSON (CommittedNetworksTests reads the committed records); sharing the
        // settings through base classes must not reorder it.
        var json = System.Text.Json.JsonSerializer.Serialize(new TrapTrainerOptions(), new System.Text.Json.JsonSerializerOptions
        {
            PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
        });
        System.Text.Json.JsonDocument.Parse(json).RootElement.EnumerateObject().Select(p => p.Name).Should().Equal(
            "epochs", "batch_size", "optimizer", "learning_rate", "weight_decay", "momentum", "reconstruction_weight", "total_variation_weight",
            "crop_padding", "horizontal_flip", "model_seed", "data_seed", "device", "threads", "channels_last", "precision", "checkpoint_directory", "resume");
    }

    [Fact]
    public void I_bau_refuses_mixed_precision_by_name()
    {
        new TrapReplace.Peers.ImplicitBackdoorUnlearningOptions { Precision = TrapReplace.Runtime.Precision.BFloat16 }.Validate()
            .Should().ContainSingle(e => e.StartsWith("Precision must be Float32: I-BAU runs in float32 only", StringComparison.Ordinal));
    }

    [Fact]
    public void The_shared_parts_are_checked_the_same_way_in_every_options_class()
    {
        foreach (var type in TrainingOptions)
        {
            var options = (TrainingRuntime)Activator.CreateInstance(type)!;
            Problems(options).Should().BeEmpty($"{type.Name}'s defaults are valid");
            options.Threads = -1;
            Problems(options).Should().Contain("Threads must be >= 0; got -1.", type.Name);

            if (options is not TrainingSchedule schedule) continue;
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

    private static IReadOnlyList<string> Problems(TrainingRuntime options) =>
        (IReadOnlyList<string>)options.GetType().GetMethod("Validate", BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes)!.Invoke(options, null)!;
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace TrapReplace.Experiments.Serialization;

/// <summary>The JSON conventions of everything the experiments write: result files, stage-1 records, the options
/// recorded inside them (snake_case names and enum values, indented, nulls kept so every field is always there).</summary>
public static class ExperimentJson
{
    /// <summary>The serializer settings.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };
}

//! GenStage: demand-driven pipelines (book chapter 6). Being written.
